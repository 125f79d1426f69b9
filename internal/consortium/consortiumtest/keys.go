// Package consortiumtest holds checks the consortium tests share: that an
// organisation's directory holds only its own private keys.
package consortiumtest

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
)

// PrivateKeyIDs returns the key ID (the node ID a key derives) of every PEM
// private key stored under dir, with the file holding it.
func PrivateKeyIDs(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if !strings.Contains(b.Type, "PRIVATE KEY") {
				continue
			}
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return fmt.Errorf("%s: a %T key", p, k)
			}
			id, err := fcrypto.KeyID(s.Public())
			if err != nil {
				return err
			}
			out[id] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
