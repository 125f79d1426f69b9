// Package genesiscontracts holds the contracts a new local network defines
// in its genesis block (the copyright and the timed-release contract), as
// wasm modules embedded in the folio binary: a `go install`ed folio starts
// a working network from any directory, with no build tree beside it.
//
// The modules are exactly what `make contracts` builds
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared ./contracts/<name>/cmd/<name>
//
// stored gzip-compressed (`gzip -9 -n`, a quarter of the size in the
// binary and in git); `make contracts` refreshes them. They are generated
// files kept in git, so a test (TestEmbeddedContractsAreCurrent) rebuilds
// each one from source and fails when the committed copy differs: they
// cannot go stale unnoticed. The genesis block pins each module's SHA-256,
// which is why the bytes must be reproducible.
package genesiscontracts

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"sync"
)

//go:embed copyright.wasm.gz
var copyrightGz []byte

//go:embed release.wasm.gz
var releaseGz []byte

// Contract is one embedded contract.
type Contract struct {
	// Name is the contract's name on the channel.
	Name string
	// Package is the main package it is built from, relative to the
	// module root.
	Package string
	// File is the embedded file's name in this package.
	File string
	gz   []byte
	wasm func() ([]byte, error)
}

// Wasm returns the module's bytes. The slice is shared: callers must not
// modify it.
func (c *Contract) Wasm() ([]byte, error) { return c.wasm() }

func newContract(name, pkg, file string, gz []byte) *Contract {
	c := &Contract{Name: name, Package: pkg, File: file, gz: gz}
	c.wasm = sync.OnceValues(func() ([]byte, error) {
		zr, err := gzip.NewReader(bytes.NewReader(c.gz))
		if err != nil {
			return nil, fmt.Errorf("embedded contract %s: %w (rebuild folio after `make contracts`)", c.File, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("embedded contract %s: %w (rebuild folio after `make contracts`)", c.File, err)
		}
		return b, nil
	})
	return c
}

var (
	// Copyright is the copyright contract (contracts/copyright).
	Copyright = newContract("copyright", "./contracts/copyright/cmd/copyright", "copyright.wasm.gz", copyrightGz)
	// Release is the timed-release contract (contracts/release).
	Release = newContract("release", "./contracts/release/cmd/release", "release.wasm.gz", releaseGz)
)

// All lists the embedded contracts.
func All() []*Contract { return []*Contract{Copyright, Release} }
