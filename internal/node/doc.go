// Package node is the composition root of Folio's processes: it builds a
// peer, an orderer or a CA from its configuration, starts its listeners and
// background work, and stops them when the context is cancelled.
//
// Every node serves one listener with mutual TLS: the connect RPC services,
// /healthz (alive), /readyz (ready to serve, with reasons when not) and
// /metrics (Prometheus). A peer or orderer accepts only callers whose client
// certificate the MSP validates (consortium member, not expired, not
// revoked); the rejection says why. A CA accepts anyone on TLS and
// authenticates admin operations by their signatures instead, because a user
// who is not enrolled yet has no certificate to present.
//
// Call order: Run(ctx, Options) blocks until ctx is done, then shuts down
// gracefully within the configured grace period and returns.
package node
