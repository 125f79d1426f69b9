// Package foliov1connect holds the connect clients and handlers of Folio's
// RPC services (gRPC, gRPC-Web and JSON over HTTP), generated from the
// service definitions in api/folio/v1 (`make proto`).
package foliov1connect
