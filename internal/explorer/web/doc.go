// Package web is the explorer's web application: it serves an
// explorer.Store as server-rendered HTML pages (usable without
// JavaScript), the same data as JSON under /api/, and a Server-Sent
// Events stream (/events) that makes the dashboard and the block list
// update live. Its one responsibility is presenting the index; it neither
// builds the index (explorer/index) nor talks to peers (the Evidence and
// Sections hooks it is given do).
//
// Call order: New(store, cfg, opts...) validates the access rules (a
// non-loopback address needs a token or client certificates) and parses
// the embedded templates; Handler() gives the routes; Serve(ctx, ln)
// serves them until ctx ends, then ends the event streams and shuts the
// HTTP server down gracefully. Serve is called at most once per Server.
//
// URLs (stable; the API mirrors the pages):
//
//	/                       dashboard          /api/stats, /api/rates (per second: counts, latency p50/p95/p99)
//	/chart.svg /latency.svg the dashboard's two charts (refreshed live)
//	/blocks?before=N        block list         /api/blocks?before=N&limit=L
//	/blocks/{n}             block              /api/blocks/{n}
//	/tx/{id}                transaction        /api/tx/{id}
//	/works?id=&owner=&author=&hash=            /api/works?...
//	/works/{id}             work + provenance  /api/works/{id}
//	/works/{id}/evidence    verification report (bundle at .../evidence/bundle)
//	/search?q=              search             /api/search?q=
//	/network /contracts /releases  optional Sections (/api/network, ...)
//	/events                 Server-Sent Events, one "block" event per indexed block
//	/healthz                liveness, index lag and block source status (503 while
//	                        every peer fails; no token needed)
//	/login?token=           sets the access cookie
package web
