// Package client is Folio's Go SDK: what applications and the folio CLI use
// to talk to a network. It connects to peers' gateways over mutual TLS as
// an Identity (a certificate and any crypto.Signer, so the key may live in
// an HSM or KMS), and to organisations' CAs to register, enroll and revoke
// identities.
//
// The SDK is public: no exported identifier of client or its subpackages
// names a type of an internal package (publicapi_test.go enforces it), so
// a module outside Folio's can use all of it. The signed bytes are built
// and parsed in one place, internal/types, which the SDK calls; the
// servers never import the SDK. docs/sdk.md is the guide.
package client
