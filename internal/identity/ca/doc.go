// Package ca is an organisation's certificate authority, modelled on Fabric
// CA: a bootstrap admin is created with the CA; admins register identities
// (each gets a one-time secret); a client enrolls by presenting the secret
// with a certificate request for a key pair it generated itself (the private
// key never reaches the CA); an enrolled identity renews its certificate
// for the same key (Reenroll, signed with its current, valid certificate;
// an admin may renew another identity's up to ReenrollGrace after it
// expired), keeping name and role; admins revoke identities, which
// produces a new signed CRL that every verifier honours.
//
// Authority holds the CA's state and persists it in its home directory
// (ca-cert.pem, ca-key.pem, registry.json). The service's TLS certificate
// (tls-cert.pem, tls-key.pem) is TLS-only: server auth and no role, so its
// key, on the CA's network-facing host, is no identity (RenewTLS replaces
// the admin-role one that CAs made before issue 18 have). Service exposes it as the
// CAService RPC API; admin operations arrive signed, timestamped and with a
// nonce, and replays are refused.
package ca
