// Package e2e runs multi-process scenarios against the real folio binary:
// it builds cmd/folio once, starts local networks in temporary directories,
// drives them through the CLI exactly as a user would, and always stops them.
package e2e
