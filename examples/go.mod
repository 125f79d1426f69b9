module github.com/folio-ledger/folio/examples

go 1.26.8

require github.com/folio-ledger/folio v0.0.0

require (
	connectrpc.com/connect v1.21.1 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// The examples build against this checkout of Folio; an application
// outside it would require a released version instead.
replace github.com/folio-ledger/folio => ../
