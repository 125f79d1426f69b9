// Package releasebench is the fairness experiment of the timed release
// (issue 9, docs/release.md "Fairness experiment"): a real local network
// (two organisations, one peer each, both key servers and trusted
// edges) and clients, each behind its own Linux network namespace whose
// veth link is shaped with tc (tbf) to a rate between 56 kbit/s and
// 100 Mbit/s, fetching a 10 MB work in four runs of one invocation:
//
//	(a) naive: plaintext sent by the edges at T, no staggering;
//	(b) Folio: ciphertext fetched ahead, key shares at T;
//	(c) Folio when the ciphertext starts too late: the key servers delay
//	    the key towards E, clients that cannot finish by E miss it;
//	(d) Folio with 30 of the clients using trusted-edge decryption.
//
// The runs go on at the same time, each with its own clients and
// namespaces (a client's link carries only its own run's traffic), and
// their release times are staggered so that the moments that matter do
// not compete for the machine's CPU.
//
// Clients are goroutines of the benchmark process running the release
// SDK (client/release) unchanged; their sockets are created inside their
// namespace (setns on a locked OS thread), so every byte they exchange
// with the peers crosses their shaped link. The peers listen on
// 127.0.0.1 in the root namespace; a byte relay on an address the
// namespaces can route to (10.200.0.1) forwards to them, TLS remaining
// end to end between client and peer.
//
// Call order: CheckTools, then Experiment, which prepares the namespaces
// (Prepare), runs the clients and removes everything it made. Figures are computed by Summarize from the clients' results and
// rendered by Histogram and SVG.
package releasebench
