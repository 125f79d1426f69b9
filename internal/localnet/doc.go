// Package localnet creates and supervises a complete Folio network on one
// machine: the network directory (organisation CAs, node and user
// identities, node configs, network.json), one OS process per node on
// 127.0.0.1, readiness waiting with a clear report, graceful stop with
// escalation, and status. For a chaos lab a node can instead have its own
// address and run in its own network namespace, with extra environment
// (Spec.Hosts, Spec.Netns, Spec.Env; recorded in network.json so every
// restart places it the same way). StartNode, StopNode and RestartNode act on one
// node while the others run; a node stopped that way is marked in
// network.json (Node.Stopped) so Status reports it "stopped", not "down".
//
// Layout of a network directory:
//
//	network.json                 format, channel, organisations, nodes, endpoints, pids
//	orgs/<Org>/ca/               the organisation's CA home (keys 0600)
//	orgs/<Org>/ca-cert.pem       the organisation's root certificate (public)
//	nodes/<name>/config.yaml     a node's configuration (peers, orderers, CAs)
//	nodes/<name>/msp/            a node's signing certificate and key
//	nodes/<name>/tls/            a node's TLS certificate and key
//	nodes/<name>/data/           a node's databases
//	wallet/<name>@<Org>/         client identities (admin and user1 of each org)
//	logs/<name>.log              each node's log
//
// The directory is generated into a temporary sibling and renamed into place,
// so it is either complete or absent.
package localnet
