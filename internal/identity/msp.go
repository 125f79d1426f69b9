package identity

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/clock"
)

// Conditions a caller may branch on; ValidationError wraps one of them.
var (
	ErrUnknownMSP     = errors.New("unknown organisation")
	ErrNotIssuedByOrg = errors.New("certificate was not issued by the organisation's CA")
	ErrExpired        = errors.New("certificate has expired")
	ErrNotYetValid    = errors.New("certificate is not valid yet")
	ErrRevoked        = errors.New("certificate has been revoked")
	ErrNoRole         = errors.New("certificate carries no Folio role")
	ErrWrongRole      = errors.New("identity does not have the required role")
	// ErrServerUsage: a certificate with the TLS server-auth usage and a
	// role other than peer or orderer. Folio's CA issues none (a CA's own
	// TLS certificate has no role, IssueServerTLS), but CAs made before
	// issue 18 gave their TLS certificate the admin role: this refusal is
	// what keeps such a certificate, whose key lives on the CA's
	// network-facing host and which no CRL lists, from acting as an admin.
	ErrServerUsage = errors.New("a TLS server certificate is not a client or admin identity")
	// ErrKeyUsage: a certificate presented for a use its extended key
	// usages do not state (CheckExtKeyUsage).
	ErrKeyUsage = errors.New("certificate is not issued for this use")
	// ErrCRLStale: the organisation's revocation list is past its
	// NextUpdate (or none was fetched yet), so a revocation may be
	// missing; admission refuses its identities until a fresh list comes.
	ErrCRLStale = errors.New("revocation list is out of date")
)

// ValidationError says why a certificate is not a valid identity.
type ValidationError struct {
	// Subject is the certificate's subject, e.g. "CN=alice,OU=client,O=Org1".
	Subject string
	MSPID   string
	// Err is one of the sentinel errors above.
	Err error
	// Detail adds the specifics: dates, serial, issuer.
	Detail string
}

func (e *ValidationError) Error() string {
	msg := fmt.Sprintf("identity %q of %s: %v", e.Subject, e.MSPID, e.Err)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func (e *ValidationError) Unwrap() error { return e.Err }

// Org is a consortium member as the MSP knows it.
type Org struct {
	Name  string
	MSPID string
	Root  *x509.Certificate
}

// Revocation is one revoked certificate from an organisation's CRL.
type Revocation struct {
	Serial    string
	RevokedAt time.Time
}

// Verifier validates identities against the consortium's organisations.
// Safe for concurrent use.
type Verifier struct {
	// now is the admission clock; nil in a chain verifier (NewChainVerifier),
	// which never reads a clock.
	now func() time.Time
	// legacyServerIdentities turns off the ErrServerUsage refusal: a chain
	// verifier for a channel below the capability level that made it a
	// validation rule (AcceptLegacyServerIdentities).
	legacyServerIdentities bool

	mu struct {
		sync.RWMutex
		// orgs by MSP ID; revocation lists replaced wholesale by UpdateCRL.
		orgs map[string]*orgState
		// valid caches identities that passed every check, so a busy node
		// does not re-verify the same CA signature (nor re-parse the same
		// serialized certificate) on every request. Keys are SHA-256
		// digests: of the MSP ID and certificate (Validate) or of the
		// serialized identity (ValidateSerialized). Expiry is still checked
		// on every hit; any change of a revocation list empties it.
		valid map[[32]byte]*Identity
		// generation counts revocation-list changes, so that a validation
		// that raced with one is not cached.
		generation uint64
	}
}

// maxCachedIdentities bounds the validation cache; when full it is emptied.
const maxCachedIdentities = 8192

type orgState struct {
	Org
	crlNumber *big.Int
	crlAt     time.Time
	// crlNext is the installed list's NextUpdate (zero: none promised).
	crlNext time.Time
	// crlExpected: this node fetches the organisation's list, so Admit
	// refuses its identities while no current list is installed.
	crlExpected bool
	crlLoaded   bool
	revoked     map[string]time.Time // serial (hex) -> revocation time
}

// NewVerifier returns a verifier for the given organisations. now defaults
// to clock.Now: the wall clock, moved by the test hook of internal/clock.
func NewVerifier(orgs []Org, now func() time.Time) (*Verifier, error) {
	if now == nil {
		now = clock.Now
	}
	v := &Verifier{now: now}
	v.mu.orgs = make(map[string]*orgState, len(orgs))
	v.mu.valid = map[[32]byte]*Identity{}
	for _, o := range orgs {
		if o.MSPID == "" || o.Root == nil {
			return nil, fmt.Errorf("msp: organisation %q needs an MSP ID and a root certificate", o.Name)
		}
		if !o.Root.IsCA {
			return nil, fmt.Errorf("msp: root certificate of %s (%s) is not a CA certificate", o.MSPID, o.Root.Subject)
		}
		if _, dup := v.mu.orgs[o.MSPID]; dup {
			return nil, fmt.Errorf("msp: organisation %s listed twice", o.MSPID)
		}
		v.mu.orgs[o.MSPID] = &orgState{Org: o, revoked: map[string]time.Time{}}
	}
	return v, nil
}

// NewChainVerifier returns the verifier block validation uses: it checks
// the issuer, the role and the revocations installed from the chain, and
// never a clock. Certificate validity periods are checked at admission
// (NewVerifier), before ordering, as Fabric does; a transaction's validity
// must not depend on when or where a block is validated (DESIGN 6).
func NewChainVerifier(orgs []Org) (*Verifier, error) {
	v, err := NewVerifier(orgs, time.Now)
	if err != nil {
		return nil, err
	}
	v.now = nil
	return v, nil
}

// AcceptLegacyServerIdentities makes a chain verifier accept, as binaries
// before the rule did, a client or admin certificate that also carries the
// TLS server-auth usage (see ErrServerUsage). Block validation must
// give the same verdicts on every binary of a channel: a channel whose
// capability level predates the rule calls this when it builds its
// verifier, so that replaying an old chain cannot change a transaction's
// outcome. Admission verifiers never accept such certificates. Call it
// before the verifier is shared.
func (v *Verifier) AcceptLegacyServerIdentities() { v.legacyServerIdentities = true }

// Orgs returns the organisations, sorted by MSP ID.
func (v *Verifier) Orgs() []Org {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]Org, 0, len(v.mu.orgs))
	for _, o := range v.mu.orgs {
		out = append(out, o.Org)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MSPID < out[j].MSPID })
	return out
}

// RootPool returns a pool of every organisation's root certificate, for
// verifying TLS peers.
func (v *Verifier) RootPool() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, o := range v.Orgs() {
		pool.AddCert(o.Root)
	}
	return pool
}

// Validate checks that cert is a valid identity of the organisation mspID:
// issued by its CA, within its validity period, not revoked, and carrying
// exactly one Folio role. The returned Identity may be shared with other
// callers: do not modify it.
func (v *Verifier) Validate(mspID string, cert *x509.Certificate) (*Identity, error) {
	h := sha256.New()
	h.Write([]byte(mspID))
	h.Write([]byte{0})
	h.Write(cert.Raw)
	key := [32]byte(h.Sum(nil))
	id, gen := v.cached(key)
	if id != nil {
		return id, nil
	}
	id, err := v.validate(mspID, cert)
	if err == nil {
		v.remember(key, id, gen)
	}
	return id, err
}

// cached returns the identity cached under key if it is still within its
// validity period, and the revocation generation to remember a fresh
// validation under.
func (v *Verifier) cached(key [32]byte) (*Identity, uint64) {
	v.mu.RLock()
	id, gen := v.mu.valid[key], v.mu.generation
	v.mu.RUnlock()
	if id != nil && v.now != nil {
		if now := v.now(); now.After(id.Cert.NotAfter) || now.Before(id.Cert.NotBefore) {
			id = nil
		}
	}
	return id, gen
}

// remember caches id under key unless a revocation list changed since
// generation gen was read; a full cache is emptied.
func (v *Verifier) remember(key [32]byte, id *Identity, gen uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.mu.generation != gen {
		return
	}
	if len(v.mu.valid) >= maxCachedIdentities {
		v.mu.valid = map[[32]byte]*Identity{}
	}
	v.mu.valid[key] = id
}

func (v *Verifier) validate(mspID string, cert *x509.Certificate) (*Identity, error) {
	v.mu.RLock()
	o, ok := v.mu.orgs[mspID]
	var revokedAt time.Time
	var revoked bool
	if ok {
		revokedAt, revoked = o.revoked[serialHex(cert.SerialNumber)]
	}
	v.mu.RUnlock()
	fail := func(err error, format string, args ...any) (*Identity, error) {
		return nil, &ValidationError{Subject: cert.Subject.String(), MSPID: mspID, Err: err, Detail: fmt.Sprintf(format, args...)}
	}
	if !ok {
		return fail(ErrUnknownMSP, "the consortium's organisations are %s", v.mspList())
	}
	if err := cert.CheckSignatureFrom(o.Root); err != nil || !bytes.Equal(cert.RawIssuer, o.Root.RawSubject) {
		return fail(ErrNotIssuedByOrg, "issued by %q, but %s's CA is %q", cert.Issuer, mspID, o.Root.Subject)
	}
	if v.now != nil {
		now := v.now()
		if now.Before(cert.NotBefore) {
			return fail(ErrNotYetValid, "valid from %s", cert.NotBefore.UTC().Format(time.RFC3339))
		}
		if now.After(cert.NotAfter) {
			return fail(ErrExpired, "expired at %s; enroll again for a new certificate", cert.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	if revoked {
		return fail(ErrRevoked, "serial %s revoked by %s's CA at %s", serialHex(cert.SerialNumber), mspID, revokedAt.UTC().Format(time.RFC3339))
	}
	role, err := certRole(cert)
	if err != nil {
		return fail(ErrNoRole, "%v", err)
	}
	// Only nodes serve TLS under a role. A pure function of the
	// certificate, so chain and admission verifiers agree (DESIGN 6).
	if !role.IsNode() && !v.legacyServerIdentities && HasExtKeyUsage(cert, x509.ExtKeyUsageServerAuth) {
		return fail(ErrServerUsage, "it has role %s and the TLS server-auth usage: a TLS certificate (such as a CA's own, issued with the admin role by folio before issue 18), not an enrolled %s; regenerate the CA's TLS certificate (folio ca renew-tls)", role, role)
	}
	return &Identity{MSPID: mspID, Org: o.Name, Name: cert.Subject.CommonName, Role: role, Cert: cert}, nil
}

// ValidateSerialized parses SerializedIdentity bytes and validates them.
func (v *Verifier) ValidateSerialized(b []byte) (*Identity, error) {
	key := sha256.Sum256(b)
	id, gen := v.cached(key)
	if id != nil {
		return id, nil
	}
	mspID, cert, err := Deserialize(b)
	if err != nil {
		return nil, err
	}
	if id, err = v.Validate(mspID, cert); err == nil {
		v.remember(key, id, gen)
	}
	return id, err
}

// Identify validates a certificate whose organisation is not stated (a TLS
// peer's), finding the organisation by the certificate's issuer.
func (v *Verifier) Identify(cert *x509.Certificate) (*Identity, error) {
	v.mu.RLock()
	var mspID string
	for id, o := range v.mu.orgs {
		if bytes.Equal(cert.RawIssuer, o.Root.RawSubject) {
			mspID = id
			break
		}
	}
	v.mu.RUnlock()
	if mspID == "" {
		return nil, &ValidationError{Subject: cert.Subject.String(), MSPID: "?", Err: ErrUnknownMSP,
			Detail: fmt.Sprintf("issuer %q is not the CA of any consortium organisation (%s)", cert.Issuer, v.mspList())}
	}
	return v.Validate(mspID, cert)
}

// Require validates an identity against a principal and returns a clear
// error naming both when it is not satisfied.
func (v *Verifier) Require(id *Identity, p Principal) error {
	if p.SatisfiedBy(id) {
		return nil
	}
	return &ValidationError{Subject: id.Cert.Subject.String(), MSPID: id.MSPID, Err: ErrWrongRole,
		Detail: fmt.Sprintf("%s is %s of %s, need %s", id.Label(), id.Role, id.MSPID, p)}
}

// UpdateCRL installs an organisation's certificate revocation list after
// checking it is signed by the organisation's CA. A list older than the one
// installed (by CRL number) is ignored, so a replayed old list cannot
// un-revoke anyone. A list with the installed number, the same revoked
// certificates and a later ThisUpdate is the CA's re-signed copy: it only
// moves NextUpdate forward.
func (v *Verifier) UpdateCRL(mspID string, der []byte) error {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return fmt.Errorf("CRL of %s: %w", mspID, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	o, ok := v.mu.orgs[mspID]
	if !ok {
		return fmt.Errorf("CRL of %s: %w", mspID, ErrUnknownMSP)
	}
	if err := crl.CheckSignatureFrom(o.Root); err != nil {
		return fmt.Errorf("CRL of %s: not signed by the organisation's CA: %w", mspID, err)
	}
	revoked := make(map[string]time.Time, len(crl.RevokedCertificateEntries))
	for _, e := range crl.RevokedCertificateEntries {
		revoked[serialHex(e.SerialNumber)] = e.RevocationTime
	}
	if o.crlNumber != nil && crl.Number != nil {
		switch c := crl.Number.Cmp(o.crlNumber); {
		case c < 0:
			return nil // an older list
		case c == 0:
			if crl.ThisUpdate.After(o.crlAt) && sameRevocations(revoked, o.revoked) {
				o.crlAt, o.crlNext = crl.ThisUpdate, crl.NextUpdate
			}
			return nil
		}
	}
	o.revoked, o.crlNumber, o.crlAt, o.crlNext, o.crlLoaded = revoked, crl.Number, crl.ThisUpdate, crl.NextUpdate, true
	v.mu.valid = map[[32]byte]*Identity{}
	v.mu.generation++
	return nil
}

// SetOrgs makes orgs the organisations the verifier admits, when a config
// update adds or removes members or changes a root certificate: identities
// of an organisation no longer listed are refused from now on (and cut from
// sessions by their next revalidation), those of a new one accepted. An
// organisation whose root is unchanged keeps its revocation state; one
// whose root changed starts without a list, as a new one does.
func (v *Verifier) SetOrgs(orgs []Org) error {
	next := make(map[string]*orgState, len(orgs))
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, o := range orgs {
		if o.MSPID == "" || o.Root == nil || !o.Root.IsCA {
			return fmt.Errorf("msp: organisation %q needs an MSP ID and a CA root certificate", o.Name)
		}
		if _, dup := next[o.MSPID]; dup {
			return fmt.Errorf("msp: organisation %s listed twice", o.MSPID)
		}
		if cur, ok := v.mu.orgs[o.MSPID]; ok && cur.Root.Equal(o.Root) {
			cur.Org.Name = o.Name
			next[o.MSPID] = cur
			continue
		}
		next[o.MSPID] = &orgState{Org: o, revoked: map[string]time.Time{}}
	}
	v.mu.orgs = next
	v.mu.valid = map[[32]byte]*Identity{}
	v.mu.generation++
	return nil
}

func sameRevocations(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for s, at := range a {
		if bt, ok := b[s]; !ok || !bt.Equal(at) {
			return false
		}
	}
	return true
}

// ExpectCRL marks an organisation whose revocation list this node fetches
// from its CA: from now on Admit refuses its identities while no list is
// installed or the installed one is past its NextUpdate.
func (v *Verifier) ExpectCRL(mspID string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	o, ok := v.mu.orgs[mspID]
	if !ok {
		return fmt.Errorf("expect CRL of %s: %w", mspID, ErrUnknownMSP)
	}
	o.crlExpected = true
	return nil
}

// Admit is the check admission (a node's API, endorser, gateway, orderer
// broadcast) adds to Validate: the identity's organisation has a current
// revocation list, so a revocation cannot be missed because its CA is
// unreachable. Block validation never calls it: a locally fetched list
// must not change a transaction's outcome (DESIGN 6).
func (v *Verifier) Admit(id *Identity) error {
	if err := v.CRLCurrent(id.MSPID); err != nil {
		return &ValidationError{Subject: id.Cert.Subject.String(), MSPID: id.MSPID, Err: ErrCRLStale, Detail: err.Error()}
	}
	return nil
}

// CRLCurrent returns nil when the organisation's revocation list is
// current or not expected, else why not (without the sentinel).
func (v *Verifier) CRLCurrent(mspID string) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	o, ok := v.mu.orgs[mspID]
	if !ok || !o.crlExpected {
		return nil
	}
	switch {
	case !o.crlLoaded:
		return fmt.Errorf("no revocation list of %s has been fetched from its CA yet; its identities are refused until one is", mspID)
	case !o.crlNext.IsZero() && v.now != nil && v.now().After(o.crlNext):
		return fmt.Errorf("the revocation list of %s was due for renewal at %s and no newer one has been fetched from its CA; its identities are refused until one is",
			mspID, o.crlNext.UTC().Format(time.RFC3339))
	}
	return nil
}

// Revocations returns the revoked serials currently known for an organisation.
func (v *Verifier) Revocations(mspID string) []Revocation {
	v.mu.RLock()
	defer v.mu.RUnlock()
	o, ok := v.mu.orgs[mspID]
	if !ok {
		return nil
	}
	out := make([]Revocation, 0, len(o.revoked))
	for s, at := range o.revoked {
		out = append(out, Revocation{Serial: s, RevokedAt: at})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Serial < out[j].Serial })
	return out
}

func (v *Verifier) mspList() string {
	ids := make([]string, 0)
	for _, o := range v.Orgs() {
		ids = append(ids, o.MSPID)
	}
	return fmt.Sprint(ids)
}

func certRole(cert *x509.Certificate) (Role, error) {
	var found []Role
	for _, ou := range cert.Subject.OrganizationalUnit {
		if r, err := ParseRole(ou); err == nil {
			found = append(found, r)
		}
	}
	if len(found) == 0 && HasExtKeyUsage(cert, x509.ExtKeyUsageServerAuth) {
		return "", fmt.Errorf("a TLS-only server certificate (such as a CA's TLS certificate) is no identity: subject OU %q holds no role", cert.Subject.OrganizationalUnit)
	}
	if len(found) != 1 {
		return "", fmt.Errorf("subject OU %q must hold exactly one of client, admin, peer, orderer", cert.Subject.OrganizationalUnit)
	}
	return found[0], nil
}

// SerialHex formats a certificate serial the way CRLs and CA listings show it.
func SerialHex(n *big.Int) string { return serialHex(n) }

func serialHex(n *big.Int) string { return fmt.Sprintf("%x", n) }
