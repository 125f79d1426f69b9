package p2p

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

const (
	// exporterLabel names the TLS keying material the handshake signs.
	exporterLabel = "EXPORTER-folio-p2p-handshake-v1"
	exporterLen   = 32
	// alpnProtocol is offered and required in TLS, so a Folio session
	// cannot be confused with another protocol on the same certificates.
	alpnProtocol = "folio-p2p/1"
)

// newTLSConfig returns the TLS 1.3 configuration for both directions.
// Chain, validity, revocation and role are checked by the MSP in
// VerifyConnection rather than by crypto/tls: node identity is a key, not
// a host name, and the MSP's answer says exactly why a certificate fails.
// The extended key usages, which crypto/tls checks only as part of the
// chain verification skipped here, are checked there too. This shared
// configuration does not know its direction and wants both usages;
// handshaker.run replaces the check with the one for its side.
//
// The node's certificate comes from source on every handshake, so a
// renewed one is presented from the next connection on.
func newTLSConfig(source func() *tls.Certificate, v *identity.Verifier) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		MaxVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return source(), nil
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return source(), nil
		},
		// A client without a certificate reaches VerifyConnection too, which
		// refuses it (and reports why) like any other non-member.
		ClientAuth:         tls.RequestClientCert,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := identifyTLSPeer(v, cs, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
			return err
		},
		SessionTicketsDisabled: true,
		NextProtos:             []string{alpnProtocol},
	}
}

// staticTLS is a TLS source that always gives cert.
func staticTLS(cert tls.Certificate) func() *tls.Certificate {
	return func() *tls.Certificate { return &cert }
}

// identifyTLSPeer validates the TLS peer's certificate: it states the
// extended key usages want (server auth when this node dialed, client
// auth when it accepted), and the MSP finds it a valid consortium identity
// with role peer or orderer.
func identifyTLSPeer(v *identity.Verifier, cs tls.ConnectionState, want ...x509.ExtKeyUsage) (*identity.Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, fmt.Errorf("%w: no TLS certificate presented", ErrNotMember)
	}
	for _, u := range want {
		if err := identity.CheckExtKeyUsage(cs.PeerCertificates[0], u); err != nil {
			return nil, fmt.Errorf("%w: TLS certificate: %w", ErrNotNode, err)
		}
	}
	id, err := v.Identify(cs.PeerCertificates[0])
	if err != nil {
		return nil, fmt.Errorf("%w: TLS certificate: %w", ErrNotMember, err)
	}
	if !id.Role.IsNode() {
		return nil, fmt.Errorf("%w: TLS certificate of %s has role %s", ErrNotNode, id.Label(), id.Role)
	}
	return id, nil
}

// PeerIdentity is who a handshake proved is at the other end.
type PeerIdentity struct {
	// NodeID is the node's key ID (64 lowercase hex characters).
	NodeID string
	// Name is the certificates' common name, e.g. "peer0.org2".
	Name  string
	Org   string
	MSPID string
	Role  identity.Role
	// ListenAddr is where the node accepts sessions ("" = dial-only).
	ListenAddr string
}

// handshakeResult is what a completed handshake yields.
type handshakeResult struct {
	peer   PeerIdentity
	dialed Side
	rank   rank
	// fingerprint names the connection identically at both ends: the hex
	// of the first 8 bytes of SHA-256 over the TLS exporter.
	fingerprint string
	// certs are the peer's TLS and node certificates, checked again by
	// Host.Revalidate while the session lives.
	certs []*x509.Certificate
}

// handshaker runs the Folio handshake. Safe for concurrent use.
type handshaker struct {
	self      *identity.SigningIdentity
	selfID    string
	verifier  *identity.Verifier
	tlsConf   *tls.Config
	advertise func() string
	timeout   time.Duration
	// admit, when set, is asked before the Proof is sent whether a session
	// with the claimed node would be registered.
	admit func(nodeID string) error
	// report, when set, is told of every failure before the connection is
	// closed (for a refused TLS certificate: before the alert is sent).
	report func(*HandshakeError)
}

// reportedError marks an error already passed to handshaker.report.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// expectation is what the dialer knows about the node it dials.
type expectation struct {
	nodeID string
	name   string
}

// run performs TLS and the Folio handshake on raw. gen is this node's dial
// generation (0 when accepting). On success the returned TLS connection
// has no deadline set and no bytes beyond the handshake have been read.
func (hs *handshaker) run(ctx context.Context, raw net.Conn, dialed Side, gen uint64, want expectation) (*tls.Conn, *handshakeResult, error) {
	remote := raw.RemoteAddr().String()
	fail := func(peer string, err error) (*tls.Conn, *handshakeResult, error) {
		var done *reportedError
		if errors.As(err, &done) {
			err = done.err
		}
		herr := &HandshakeError{Remote: remote, Peer: peer, Err: err}
		if done == nil && hs.report != nil {
			hs.report(herr)
		}
		return nil, nil, herr
	}
	if err := raw.SetDeadline(time.Now().Add(hs.timeout)); err != nil {
		return fail("", fmt.Errorf("%w: %w", ErrHandshakeIO, err))
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	// A per-connection copy of the configuration keeps the identity the
	// MSP found for the TLS certificate, so it is validated once.
	var tlsID *identity.Identity
	conf := hs.tlsConf.Clone()
	// The TLS peer is a server when this node dialed, a client when it
	// accepted: its certificate must be issued for that side.
	usage := x509.ExtKeyUsageClientAuth
	if dialed == DialedBySelf {
		usage = x509.ExtKeyUsageServerAuth
	}
	conf.VerifyConnection = func(cs tls.ConnectionState) (err error) {
		if tlsID, err = identifyTLSPeer(hs.verifier, cs, usage); err != nil && hs.report != nil {
			hs.report(&HandshakeError{Remote: remote, Err: err})
			return &reportedError{err}
		}
		return err
	}
	var tc *tls.Conn
	if dialed == DialedBySelf {
		tc = tls.Client(raw, conf)
	} else {
		tc = tls.Server(raw, conf)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail("", classifyIO(ctx, err, ErrTLS))
	}
	if tlsID == nil { // VerifyConnection runs in every full TLS 1.3 handshake
		return fail("", fmt.Errorf("%w: peer certificate was not verified", ErrTLS))
	}
	cs := tc.ConnectionState()
	if cs.NegotiatedProtocol != alpnProtocol {
		return fail("", fmt.Errorf("%w: application protocol %q, want %q", ErrTLS, cs.NegotiatedProtocol, alpnProtocol))
	}
	exporter, err := cs.ExportKeyingMaterial(exporterLabel, nil, exporterLen)
	if err != nil {
		return fail("", fmt.Errorf("%w: export keying material: %w", ErrTLS, err))
	}

	ours, err := hs.hello(dialed, gen)
	if err != nil {
		return fail("", err)
	}
	oursBytes, err := ours.marshal()
	if err != nil {
		return fail("", err)
	}
	if err := writeFrame(tc, oursBytes); err != nil {
		return fail("", classifyIO(ctx, err, ErrHandshakeIO))
	}
	theirsBytes, err := readFrame(tc, maxHandshakeFrame)
	if err != nil {
		return fail("", classifyIO(ctx, err, ErrHandshakeIO))
	}
	theirs, err := parseHello(theirsBytes)
	if err != nil {
		return fail("", err)
	}
	peerID := hex.EncodeToString(theirs.NodeID[:])
	nodeCert, peer, err := hs.checkHello(theirs, tlsID, want)
	if err != nil {
		return fail(peerID, err)
	}
	if hs.admit != nil {
		if err := hs.admit(peer.NodeID); err != nil {
			return fail(peerID, err)
		}
	}

	dialerHello, acceptorHello := oursBytes, theirsBytes
	if dialed == DialedByRemote {
		dialerHello, acceptorHello = theirsBytes, oursBytes
	}
	sig, err := hs.self.Sign(types.DomainHandshake, transcript(exporter, dialed, dialerHello, acceptorHello))
	if err != nil {
		return fail(peerID, fmt.Errorf("%w: sign transcript: %w", ErrHandshakeIO, err))
	}
	proofBytes, err := (&proof{Version: handshakeVersion, Sig: sig}).marshal()
	if err != nil {
		return fail(peerID, err)
	}
	if err := writeFrame(tc, proofBytes); err != nil {
		return fail(peerID, classifyIO(ctx, err, ErrHandshakeIO))
	}
	theirProofBytes, err := readFrame(tc, maxHandshakeFrame)
	if err != nil {
		return fail(peerID, classifyIO(ctx, err, ErrHandshakeIO))
	}
	theirProof, err := parseProof(theirProofBytes)
	if err != nil {
		return fail(peerID, err)
	}
	theirSide := DialedByRemote // the remote signs as the dialer when we accepted
	if dialed == DialedByRemote {
		theirSide = DialedBySelf
	}
	if err := fcrypto.Verify(nodeCert.PublicKey, types.DomainHandshake, transcript(exporter, theirSide, dialerHello, acceptorHello), theirProof.Sig); err != nil {
		return fail(peerID, fmt.Errorf("%w: %w", ErrBadSignature, err))
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return fail(peerID, fmt.Errorf("%w: %w", ErrHandshakeIO, err))
	}

	dialerGen, dialerNonce := ours.Gen, ours.Nonce
	if dialed == DialedByRemote {
		dialerGen, dialerNonce = theirs.Gen, theirs.Nonce
	}
	fp := sha256.Sum256(exporter)
	return tc, &handshakeResult{
		peer:        peer,
		dialed:      dialed,
		rank:        rankOf(hs.selfID, peer.NodeID, dialed, dialerGen, dialerNonce),
		fingerprint: hex.EncodeToString(fp[:8]),
		certs:       []*x509.Certificate{tc.ConnectionState().PeerCertificates[0], nodeCert},
	}, nil
}

func (hs *handshaker) hello(dialed Side, gen uint64) (*hello, error) {
	h := &hello{Version: handshakeVersion, Role: hs.self.Role, MSPID: hs.self.MSPID, ListenAddr: hs.advertise(), Cert: hs.self.Certificate().Raw}
	if dialed == DialedBySelf {
		h.Gen = gen
	}
	if _, err := rand.Read(h.Nonce[:]); err != nil {
		return nil, fmt.Errorf("%w: nonce: %w", ErrHandshakeIO, err)
	}
	raw, err := hex.DecodeString(hs.selfID)
	if err != nil || len(raw) != nodeIDLen {
		return nil, fmt.Errorf("%w: own node ID %q", ErrMalformed, hs.selfID)
	}
	copy(h.NodeID[:], raw)
	return h, nil
}

// checkHello verifies the remote's claims: its node certificate is a
// valid consortium node identity, of the same organisation, name and role
// as its TLS certificate and as claimed, and the claimed node ID is the
// certificate key's ID.
func (hs *handshaker) checkHello(h *hello, tlsID *identity.Identity, want expectation) (*x509.Certificate, PeerIdentity, error) {
	var none PeerIdentity
	cert, err := x509.ParseCertificate(h.Cert)
	if err != nil {
		return nil, none, fmt.Errorf("%w: node certificate: %w", ErrMalformed, err)
	}
	nodeID, err := hs.verifier.Identify(cert)
	if err != nil {
		return nil, none, fmt.Errorf("%w: node certificate: %w", ErrNotMember, err)
	}
	if !nodeID.Role.IsNode() {
		return nil, none, fmt.Errorf("%w: node certificate of %s has role %s", ErrNotNode, nodeID.Label(), nodeID.Role)
	}
	if nodeID.MSPID != tlsID.MSPID || nodeID.Name != tlsID.Name || nodeID.Role != tlsID.Role {
		return nil, none, fmt.Errorf("%w: TLS is %s, node certificate is %s", ErrIdentityMismatch, tlsID, nodeID)
	}
	if h.MSPID != nodeID.MSPID || h.Role != nodeID.Role {
		return nil, none, fmt.Errorf("%w: Hello claims %s/%s, certificate says %s", ErrIdentityMismatch, h.MSPID, h.Role, nodeID)
	}
	keyID, err := fcrypto.KeyID(cert.PublicKey)
	if err != nil {
		return nil, none, fmt.Errorf("%w: %w", ErrNotMember, err)
	}
	claimed := hex.EncodeToString(h.NodeID[:])
	if claimed != keyID {
		return nil, none, fmt.Errorf("%w: claims %s, certificate key is %s", ErrNodeIDMismatch, short(claimed), short(keyID))
	}
	if keyID == hs.selfID {
		return nil, none, ErrSelf
	}
	if want.nodeID != "" && keyID != want.nodeID {
		return nil, none, fmt.Errorf("%w: wanted node %s, reached %s (%s)", ErrUnexpectedPeer, short(want.nodeID), short(keyID), nodeID.Label())
	}
	if want.name != "" && nodeID.Name != want.name {
		return nil, none, fmt.Errorf("%w: wanted %q, reached %s", ErrUnexpectedPeer, want.name, nodeID.Label())
	}
	return cert, PeerIdentity{NodeID: keyID, Name: nodeID.Name, Org: nodeID.Org, MSPID: nodeID.MSPID, Role: nodeID.Role, ListenAddr: h.ListenAddr}, nil
}

// classifyIO turns an I/O error during the handshake into a sentinel:
// timeout, shutdown, a protocol error already classified, or def.
func classifyIO(ctx context.Context, err error, def error) error {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return err
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrHandshakeShutdown, err)
	}
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %w", ErrHandshakeTimeout, err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrHandshakeIO, err)
	}
	return fmt.Errorf("%w: %w", def, err)
}
