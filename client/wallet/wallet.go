// Package wallet stores identities (certificate and private key) on disk,
// one folder per identity labelled "name@Org":
//
//	<dir>/<name>@<Org>/identity.json   name, org, MSP ID, role
//	<dir>/<name>@<Org>/cert.pem        signing certificate (also the TLS client certificate)
//	<dir>/<name>@<Org>/key.pem         private key, mode 0600
//
// Folders are 0700. Every file is written atomically.
package wallet

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/atomicfile"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
)

// ErrNotFound means the wallet has no identity with that label.
var ErrNotFound = errors.New("identity not in wallet")

// Entry describes a stored identity.
type Entry struct {
	Name  string `json:"name"`
	Org   string `json:"org"`
	MSPID string `json:"msp_id"`
	Role  string `json:"role"`
}

// Label is "name@Org".
func (e Entry) Label() string { return e.Name + "@" + e.Org }

// Wallet is a directory of identities. Not safe for concurrent writers to
// the same label.
type Wallet struct {
	dir string
}

// Open returns the wallet in dir; the directory is created on first Put.
func Open(dir string) *Wallet { return &Wallet{dir: dir} }

// Dir is the wallet's directory.
func (w *Wallet) Dir() string { return w.dir }

// ParseLabel splits "name@Org".
func ParseLabel(label string) (name, org string, err error) {
	i := strings.LastIndexByte(label, '@')
	if i <= 0 || i == len(label)-1 {
		return "", "", fmt.Errorf("identity %q: want name@Org, e.g. user1@Org1", label)
	}
	return label[:i], label[i+1:], nil
}

// Put stores an identity, replacing one with the same label.
func (w *Wallet) Put(e Entry, cert *x509.Certificate, key crypto.Signer) error {
	if _, _, err := ParseLabel(e.Label()); err != nil {
		return err
	}
	dir := filepath.Join(w.dir, e.Label())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	meta, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := fcrypto.WritePrivateKey(filepath.Join(dir, "key.pem"), key); err != nil {
		return fmt.Errorf("wallet %s: %w", e.Label(), err)
	}
	if err := fcrypto.WriteCertificate(filepath.Join(dir, "cert.pem"), cert.Raw); err != nil {
		return fmt.Errorf("wallet %s: %w", e.Label(), err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "identity.json"), append(meta, '\n'), 0o644); err != nil {
		return fmt.Errorf("wallet %s: %w", e.Label(), err)
	}
	return nil
}

// Load returns the signing identity stored under label ("name@Org").
func (w *Wallet) Load(label string) (*client.Identity, error) {
	if _, _, err := ParseLabel(label); err != nil {
		return nil, err
	}
	dir := filepath.Join(w.dir, label)
	meta, err := os.ReadFile(filepath.Join(dir, "identity.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (looked in %s; enroll it with `folio ca enroll`)", ErrNotFound, label, w.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("wallet %s: %w", label, err)
	}
	var e Entry
	if err := json.Unmarshal(meta, &e); err != nil {
		return nil, fmt.Errorf("wallet %s: identity.json: %w", label, err)
	}
	cert, err := fcrypto.ReadCertificate(filepath.Join(dir, "cert.pem"))
	if err != nil {
		return nil, fmt.Errorf("wallet %s: %w", label, err)
	}
	key, err := fcrypto.ReadPrivateKey(filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("wallet %s: %w", label, err)
	}
	id, err := client.NewIdentity(e.MSPID, cert, key)
	if err != nil {
		return nil, fmt.Errorf("wallet %s: %w", label, err)
	}
	if id.Label() != label {
		return nil, fmt.Errorf("wallet %s: holds the certificate of %s", label, id.Label())
	}
	return id, nil
}

// Renew replaces the certificate of the identity stored under label with
// its renewal, keeping the key: cert must be for the stored key, name,
// organisation and role (client.CA.Reenroll returns such a one). The
// certificate file is replaced atomically, so a reader sees the old or the
// new certificate, never a mix. It returns the old certificate.
func (w *Wallet) Renew(label string, cert *x509.Certificate) (*x509.Certificate, error) {
	old, err := w.Load(label)
	if err != nil {
		return nil, err
	}
	renewed, err := client.NewIdentity(old.MSPID(), cert, old.Key())
	if err != nil {
		return nil, fmt.Errorf("wallet %s: renewal: %w (a new key is a new enrolment)", label, err)
	}
	if renewed.Label() != label || renewed.Role() != old.Role() {
		return nil, fmt.Errorf("wallet %s: renewal: the certificate is for %s with role %q, not %s with role %q",
			label, renewed.Label(), renewed.Role(), label, old.Role())
	}
	if err := fcrypto.WriteCertificate(filepath.Join(w.dir, label, "cert.pem"), cert.Raw); err != nil {
		return nil, fmt.Errorf("wallet %s: %w", label, err)
	}
	return old.Certificate(), nil
}

// List returns the stored identities sorted by label.
func (w *Wallet) List() ([]Entry, error) {
	dirs, err := os.ReadDir(w.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	var out []Entry
	for _, d := range dirs {
		meta, err := os.ReadFile(filepath.Join(w.dir, d.Name(), "identity.json"))
		if err != nil {
			continue
		}
		var e Entry
		if json.Unmarshal(meta, &e) == nil {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label() < out[j].Label() })
	return out, nil
}
