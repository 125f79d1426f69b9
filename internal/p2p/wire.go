package p2p

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"regexp"

	"golang.org/x/crypto/cryptobyte"

	"github.com/folio-ledger/folio/internal/identity"
)

// Wire format (docs/sessions.md has the byte tables).
//
// Every handshake message travels in a frame: a 4-byte big-endian length,
// then that many bytes of body. A body starts with the magic "FP2P", the
// version (1) and the message type. No trailing bytes are allowed.
const (
	handshakeMagic   = "FP2P"
	handshakeVersion = 1

	msgHello = 1
	msgProof = 2

	// maxHandshakeFrame bounds a handshake frame body.
	maxHandshakeFrame = 8 << 10
	nonceLen          = 32
	nodeIDLen         = 32
	maxMSPIDLen       = 64
	maxAddrLen        = 255
	maxCertLen        = 4096
	maxSigLen         = 128

	// frameHeaderLen is the length prefix of every frame.
	frameHeaderLen = 4
	// readChunk bounds how much readFrame allocates ahead of the bytes
	// that actually arrived, so a large length prefix alone costs nothing.
	readChunk = 64 << 10
)

// role codes on the wire.
const (
	roleCodePeer    = 1
	roleCodeOrderer = 2
)

func roleCode(r identity.Role) (uint8, error) {
	switch r {
	case identity.RolePeer:
		return roleCodePeer, nil
	case identity.RoleOrderer:
		return roleCodeOrderer, nil
	}
	return 0, fmt.Errorf("%w: role %q", ErrNotNode, r)
}

func roleOfCode(c uint8) (identity.Role, error) {
	switch c {
	case roleCodePeer:
		return identity.RolePeer, nil
	case roleCodeOrderer:
		return identity.RoleOrderer, nil
	}
	return "", fmt.Errorf("%w: role code %d", ErrMalformed, c)
}

// writeFrame writes a length-prefixed frame in one Write call.
func writeFrame(w io.Writer, body []byte) error {
	buf := make([]byte, frameHeaderLen+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[frameHeaderLen:], body)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one length-prefixed frame of at most max body bytes.
// Memory grows with the bytes received, not with the announced length.
// A clean end of stream before the first byte is io.EOF; anywhere else it
// is io.ErrUnexpectedEOF.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	n, err := readFrameLen(r)
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrFrameTooLarge, n, limit)
	}
	return readFrameBody(r, int(n))
}

// readFrameLen reads a frame's length prefix.
func readFrameLen(r io.Reader) (uint32, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(hdr[:]), nil
}

// readFrameBody reads a frame body of n bytes (already checked against
// the limit), allocating at most readChunk ahead of the bytes received.
func readFrameBody(r io.Reader, n int) ([]byte, error) {
	body := make([]byte, 0, min(n, readChunk))
	for len(body) < n {
		if len(body) == cap(body) {
			grown := make([]byte, len(body), min(n, 2*cap(body)))
			copy(grown, body)
			body = grown
		}
		m, err := io.ReadFull(r, body[len(body):cap(body)])
		body = body[:len(body)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return body, nil
}

// hello is the first handshake message each side sends.
type hello struct {
	// Version is the handshake version of this message (1).
	Version uint8
	// Nonce is fresh randomness for this connection.
	Nonce [nonceLen]byte
	// Gen is the sender's dial generation when it dialed the connection,
	// 0 when it accepted it.
	Gen uint64
	// NodeID is the sender's node ID (raw SHA-256 of its node key's SPKI).
	NodeID [nodeIDLen]byte
	// Role is peer or orderer.
	Role identity.Role
	// MSPID is the sender's organisation.
	MSPID string
	// ListenAddr is where the sender accepts sessions ("" = dial-only).
	ListenAddr string
	// Cert is the sender's node (signing) certificate, DER.
	Cert []byte
}

var mspIDPattern = regexp.MustCompile(`^[\x21-\x7e]{1,64}$`)

// validate checks field values (not the certificate's meaning).
func (h *hello) validate() error {
	if h.Version != handshakeVersion {
		return fmt.Errorf("%w: version %d (this node speaks %d)", ErrUnsupportedVersion, h.Version, handshakeVersion)
	}
	if _, err := roleCode(h.Role); err != nil {
		return err
	}
	if !mspIDPattern.MatchString(h.MSPID) {
		return fmt.Errorf("%w: MSP ID %q", ErrMalformed, h.MSPID)
	}
	if h.ListenAddr != "" {
		if len(h.ListenAddr) > maxAddrLen {
			return fmt.Errorf("%w: listen address of %d bytes", ErrMalformed, len(h.ListenAddr))
		}
		if _, _, err := net.SplitHostPort(h.ListenAddr); err != nil {
			return fmt.Errorf("%w: listen address %q: %v", ErrMalformed, h.ListenAddr, err)
		}
	}
	if len(h.Cert) == 0 || len(h.Cert) > maxCertLen {
		return fmt.Errorf("%w: certificate of %d bytes (1..%d)", ErrMalformed, len(h.Cert), maxCertLen)
	}
	return nil
}

// marshal encodes the Hello body:
//
//	"FP2P" | version u8 | type u8 = 1 | nonce [32] | gen u64 | node_id [32] |
//	role u8 | msp_id (u8 length + bytes) | listen_addr (u8 length + bytes) |
//	node_cert (u16 length + DER)
func (h *hello) marshal() ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	rc, _ := roleCode(h.Role)
	var b cryptobyte.Builder
	b.AddBytes([]byte(handshakeMagic))
	b.AddUint8(h.Version)
	b.AddUint8(msgHello)
	b.AddBytes(h.Nonce[:])
	b.AddUint64(h.Gen)
	b.AddBytes(h.NodeID[:])
	b.AddUint8(rc)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(h.MSPID)) })
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(h.ListenAddr)) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.Cert) })
	return b.Bytes()
}

// parseHello decodes and validates a Hello body.
func parseHello(body []byte) (*hello, error) {
	s := cryptobyte.String(body)
	h := &hello{}
	typ, err := parseHeader(&s, &h.Version)
	if err != nil {
		return nil, err
	}
	if typ != msgHello {
		return nil, fmt.Errorf("%w: message type %d, want Hello", ErrMalformed, typ)
	}
	var nonce, nodeID, mspID, addr, cert []byte
	var rc uint8
	if !s.ReadBytes(&nonce, nonceLen) || !s.ReadUint64(&h.Gen) || !s.ReadBytes(&nodeID, nodeIDLen) || !s.ReadUint8(&rc) ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&mspID)) || !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&addr)) ||
		!s.ReadUint16LengthPrefixed((*cryptobyte.String)(&cert)) {
		return nil, fmt.Errorf("%w: truncated Hello", ErrMalformed)
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: %d trailing bytes after Hello", ErrMalformed, len(s))
	}
	copy(h.Nonce[:], nonce)
	copy(h.NodeID[:], nodeID)
	if h.Role, err = roleOfCode(rc); err != nil {
		return nil, err
	}
	h.MSPID, h.ListenAddr = string(mspID), string(addr)
	h.Cert = append([]byte(nil), cert...)
	if err := h.validate(); err != nil {
		return nil, err
	}
	return h, nil
}

// proof is the second handshake message: the sender's node-key signature
// over the transcript (see transcript).
type proof struct {
	Version uint8
	Sig     []byte
}

// marshal encodes the Proof body: "FP2P" | version u8 | type u8 = 2 |
// signature (u8 length + bytes).
func (p *proof) marshal() ([]byte, error) {
	if len(p.Sig) == 0 || len(p.Sig) > maxSigLen {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(p.Sig))
	}
	var b cryptobyte.Builder
	b.AddBytes([]byte(handshakeMagic))
	b.AddUint8(p.Version)
	b.AddUint8(msgProof)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p.Sig) })
	return b.Bytes()
}

// parseProof decodes a Proof body.
func parseProof(body []byte) (*proof, error) {
	s := cryptobyte.String(body)
	p := &proof{}
	typ, err := parseHeader(&s, &p.Version)
	if err != nil {
		return nil, err
	}
	if typ != msgProof {
		return nil, fmt.Errorf("%w: message type %d, want Proof", ErrMalformed, typ)
	}
	var sig []byte
	if !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&sig)) {
		return nil, fmt.Errorf("%w: truncated Proof", ErrMalformed)
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: %d trailing bytes after Proof", ErrMalformed, len(s))
	}
	if len(sig) == 0 || len(sig) > maxSigLen {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(sig))
	}
	p.Sig = append([]byte(nil), sig...)
	return p, nil
}

func parseHeader(s *cryptobyte.String, version *uint8) (uint8, error) {
	var magic []byte
	var typ uint8
	if !s.ReadBytes(&magic, len(handshakeMagic)) || string(magic) != handshakeMagic {
		return 0, fmt.Errorf("%w: not a Folio handshake message", ErrMalformed)
	}
	if !s.ReadUint8(version) || !s.ReadUint8(&typ) {
		return 0, fmt.Errorf("%w: truncated header", ErrMalformed)
	}
	if *version != handshakeVersion {
		return 0, fmt.Errorf("%w: version %d (this node speaks %d)", ErrUnsupportedVersion, *version, handshakeVersion)
	}
	return typ, nil
}

// transcript is the message each side signs with its node key (domain
// types.DomainHandshake):
//
//	exporter [32] | signer u8 ('D' dialer, 'A' acceptor) |
//	dialer Hello (u16 length + bytes) | acceptor Hello (u16 length + bytes)
//
// exporter is the TLS 1.3 keying material exported with label
// exporterLabel: unique to the TLS connection and known only to its two
// ends, it binds the signature to this connection. Both Hellos carry both
// nonces and every claim made.
func transcript(exporter []byte, signer Side, dialerHello, acceptorHello []byte) []byte {
	var b cryptobyte.Builder
	b.AddBytes(exporter)
	if signer == DialedBySelf {
		b.AddUint8('D')
	} else {
		b.AddUint8('A')
	}
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(dialerHello) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(acceptorHello) })
	return b.BytesOrPanic() // inputs are bounded by maxHandshakeFrame
}

// Stream header: the opener of a stream first writes
//
//	version u8 = 1 | protocol (u8 length + bytes)
//
// and the acceptor answers with one status byte.
const (
	streamHeaderVersion = 1
	statusOK            = 0
	statusUnknown       = 1
	// statusRefused: the acceptor has MaxStreamsPerSession streams of the
	// opener open already (the only reason it sends it).
	statusRefused = 2
	// maxProtocolLen bounds a protocol name.
	maxProtocolLen = 64
	// retireProtocol is the internal control protocol carrying a retire
	// notice (one reason byte). Application names cannot start with '_'.
	retireProtocol = "_retire"
)

var protocolPattern = regexp.MustCompile(`^[a-z][a-z0-9._/-]{0,63}$`)

// validProtocol reports whether name may be registered with Handle.
func validProtocol(name string) bool { return protocolPattern.MatchString(name) }

func marshalStreamHeader(protocol string) []byte {
	b := make([]byte, 0, 2+len(protocol))
	b = append(b, streamHeaderVersion, byte(len(protocol)))
	return append(b, protocol...)
}

// readStreamHeader reads the stream header and returns the protocol name.
func readStreamHeader(r io.Reader) (string, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", err
	}
	if hdr[0] != streamHeaderVersion {
		return "", fmt.Errorf("%w: stream header version %d", ErrMalformed, hdr[0])
	}
	n := int(hdr[1])
	if n == 0 || n > maxProtocolLen {
		return "", fmt.Errorf("%w: protocol name of %d bytes", ErrMalformed, n)
	}
	name := make([]byte, n)
	if _, err := io.ReadFull(r, name); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	if string(name) != retireProtocol && !validProtocol(string(name)) {
		return "", fmt.Errorf("%w: protocol name %q", ErrMalformed, name)
	}
	return string(name), nil
}
