// Package identity is Folio's membership service provider (MSP), modelled on
// Hyperledger Fabric's: it knows each organisation's root CA and revocation
// list, and answers whether a certificate is a valid identity of organisation
// X with role R, not expired and not revoked.
//
// Roles are encoded in the certificate subject's OU like Fabric NodeOUs:
// exactly one of "client", "admin", "peer" or "orderer". Principals are
// written 'Org1MSP.member' (member, admin, client, peer, orderer); member is
// satisfied by any valid identity of the organisation.
//
// Extended key usages say which side of TLS a certificate may take: signing
// identities have client auth only, node TLS certificates server and client
// auth, a CA's TLS certificate server auth only and no role (so it is no
// identity). The MSP refuses a server-auth certificate whose role is not
// peer or orderer; CheckExtKeyUsage and RequireServerAuth are the checks
// TLS endpoints make.
//
// The package also issues certificates (root CAs and leaves) for the CA in
// package identity/ca and for the network generator, and holds the signing
// identity that signs proposals, envelopes and blocks.
package identity
