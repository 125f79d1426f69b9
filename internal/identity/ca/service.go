package ca

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// Admin requests must be signed within this window of the CA's clock, and
// their nonces are remembered for twice as long to refuse replays.
const (
	RequestWindow = 5 * time.Minute
	minNonceBytes = 16
	maxNonces     = 100_000
)

// Service serves an Authority as the CAService RPC API.
type Service struct {
	auth     *Authority
	verifier *identity.Verifier
	log      *slog.Logger
	now      func() time.Time

	mu struct {
		sync.Mutex
		nonces map[string]time.Time // nonce -> request time, pruned past 2*RequestWindow
	}
}

var _ foliov1connect.CAServiceHandler = (*Service)(nil)

// NewService wraps an Authority. now defaults to time.Now.
func NewService(auth *Authority, log *slog.Logger, now func() time.Time) (*Service, error) {
	if now == nil {
		now = time.Now
	}
	org, mspID := auth.Org()
	v, err := identity.NewVerifier([]identity.Org{{Name: org, MSPID: mspID, Root: auth.Certificate()}}, now)
	if err != nil {
		return nil, err
	}
	if err := v.UpdateCRL(mspID, auth.CRL()); err != nil {
		return nil, err
	}
	s := &Service{auth: auth, verifier: v, log: log, now: now}
	s.mu.nonces = map[string]time.Time{}
	return s, nil
}

// GetCAInfo returns the CA certificate and current CRL; anyone may ask.
func (s *Service) GetCAInfo(context.Context, *connect.Request[foliov1.GetCAInfoRequest]) (*connect.Response[foliov1.CAInfo], error) {
	org, mspID := s.auth.Org()
	return connect.NewResponse(&foliov1.CAInfo{
		Org: org, MspId: mspID, CaCertPem: fcrypto.EncodeCertificatePEM(s.auth.Certificate().Raw), CrlDer: s.auth.CRL(),
	}), nil
}

// Register registers a new identity; the request must be signed by an admin.
func (s *Service) Register(ctx context.Context, req *connect.Request[foliov1.SignedCARequest]) (*connect.Response[foliov1.RegisterResponse], error) {
	admin, r, err := s.authorize(req.Msg)
	if err != nil {
		return nil, err
	}
	op := r.GetRegister()
	if op == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("register: request does not carry a register operation"))
	}
	role := op.Role
	if role == "" {
		role = string(identity.RoleClient)
	}
	secret, err := s.auth.Register(admin.Label(), op.Name, identity.Role(role))
	if err != nil {
		return nil, toConnect(err)
	}
	s.log.Info("identity registered", "name", op.Name, "role", role, "by", admin.Label())
	return connect.NewResponse(&foliov1.RegisterResponse{Name: op.Name, Role: role, Secret: secret}), nil
}

// Enroll issues certificates to a registered identity presenting its secret.
func (s *Service) Enroll(ctx context.Context, req *connect.Request[foliov1.EnrollRequest]) (*connect.Response[foliov1.EnrollResponse], error) {
	m := req.Msg
	e, err := s.auth.Enroll(EnrollRequest{Name: m.Name, Secret: m.Secret, CSR: m.CsrDer, TLSCSR: m.TlsCsrDer})
	if err != nil {
		s.log.Warn("enrolment refused", "name", m.Name, "err", err)
		return nil, toConnect(err)
	}
	s.log.Info("identity enrolled", "name", m.Name, "role", e.Role, "serial", identity.SerialHex(e.Cert.SerialNumber))
	resp := &foliov1.EnrollResponse{
		CertPem:   fcrypto.EncodeCertificatePEM(e.Cert.Raw),
		CaCertPem: fcrypto.EncodeCertificatePEM(s.auth.Certificate().Raw),
		Role:      string(e.Role),
	}
	if e.TLSCert != nil {
		resp.TlsCertPem = fcrypto.EncodeCertificatePEM(e.TLSCert.Raw)
	}
	return connect.NewResponse(resp), nil
}

// Revoke revokes an identity's certificates; the request must be signed by an admin.
func (s *Service) Revoke(ctx context.Context, req *connect.Request[foliov1.SignedCARequest]) (*connect.Response[foliov1.RevokeResponse], error) {
	admin, r, err := s.authorize(req.Msg)
	if err != nil {
		return nil, err
	}
	op := r.GetRevoke()
	if op == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("revoke: request does not carry a revoke operation"))
	}
	serials, crl, err := s.auth.Revoke(admin.Label(), op.Name, op.Reason)
	if err != nil {
		return nil, toConnect(err)
	}
	_, mspID := s.auth.Org()
	if err := s.verifier.UpdateCRL(mspID, crl); err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	s.log.Info("identity revoked", "name", op.Name, "serials", serials, "by", admin.Label(), "reason", op.Reason)
	return connect.NewResponse(&foliov1.RevokeResponse{Serials: serials, CrlDer: crl}), nil
}

// ListIdentities lists registered identities; the request must be signed by an admin.
func (s *Service) ListIdentities(ctx context.Context, req *connect.Request[foliov1.SignedCARequest]) (*connect.Response[foliov1.ListIdentitiesResponse], error) {
	_, r, err := s.authorize(req.Msg)
	if err != nil {
		return nil, err
	}
	if r.GetList() == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("list: request does not carry a list operation"))
	}
	resp := &foliov1.ListIdentitiesResponse{}
	for _, rec := range s.auth.List() {
		resp.Identities = append(resp.Identities, &foliov1.IdentityRecord{Name: rec.Name, Role: rec.Role, Status: rec.Status, Serials: rec.Serials})
	}
	return connect.NewResponse(resp), nil
}

// Reenroll renews an identity's certificates for the same keys. The
// request is signed by the identity itself (its current certificate valid
// and unrevoked) or, for another name, by an admin of the organisation,
// who must present that identity's current certificate (which may have
// expired up to ReenrollGrace ago) and a request signed with its key.
func (s *Service) Reenroll(ctx context.Context, req *connect.Request[foliov1.SignedCARequest]) (*connect.Response[foliov1.EnrollResponse], error) {
	signer, r, err := s.authenticate(req.Msg)
	if err != nil {
		return nil, err
	}
	op := r.GetReenroll()
	if op == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("reenroll: request does not carry a reenroll operation"))
	}
	rr := ReenrollRequest{Name: op.Name, CSR: op.CsrDer, TLSCSR: op.TlsCsrDer}
	if rr.Name == "" {
		rr.Name = signer.Name
	}
	if len(op.CurrentTlsCertPem) > 0 {
		if rr.CurrentTLS, err = fcrypto.ParseCertificatePEM(op.CurrentTlsCertPem); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("reenroll %q: current TLS certificate: %w", rr.Name, err))
		}
	}
	switch {
	case rr.Name == signer.Name:
		// The signer renews itself: the certificate it signed with, which
		// the MSP just found valid, is the one renewed.
		if len(op.CurrentCertPem) > 0 {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("reenroll %q: renewing yourself renews the certificate you sign with; leave the current certificate out", rr.Name))
		}
		rr.Current = signer.Cert
	case signer.Role != identity.RoleAdmin:
		s.log.Warn("renewal refused", "name", rr.Name, "by", signer.Label(), "err", "not an admin")
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("reenroll %q: %s is a %s: %w; only an admin of the organisation renews another identity's certificate",
			rr.Name, signer.Label(), signer.Role, ErrNotYours))
	default:
		if rr.Current, err = fcrypto.ParseCertificatePEM(op.CurrentCertPem); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("reenroll %q for it: its current certificate: %w", rr.Name, err))
		}
		rr.ByAdmin = true
	}
	e, err := s.auth.Reenroll(rr)
	if err != nil {
		s.log.Warn("renewal refused", "name", rr.Name, "by", signer.Label(), "err", err)
		return nil, toConnect(err)
	}
	attrs := []any{"name", rr.Name, "role", e.Role, "by", signer.Label(),
		"old_serial", identity.SerialHex(rr.Current.SerialNumber), "serial", identity.SerialHex(e.Cert.SerialNumber), "not_after", e.Cert.NotAfter}
	if e.TLSCert != nil {
		attrs = append(attrs, "tls_serial", identity.SerialHex(e.TLSCert.SerialNumber))
	}
	s.log.Info("certificate renewed", attrs...)
	resp := &foliov1.EnrollResponse{
		CertPem:   fcrypto.EncodeCertificatePEM(e.Cert.Raw),
		CaCertPem: fcrypto.EncodeCertificatePEM(s.auth.Certificate().Raw),
		Role:      string(e.Role),
	}
	if e.TLSCert != nil {
		resp.TlsCertPem = fcrypto.EncodeCertificatePEM(e.TLSCert.Raw)
	}
	return connect.NewResponse(resp), nil
}

// authorize checks a signed admin request: authenticate, and the signer
// is an admin.
func (s *Service) authorize(sr *foliov1.SignedCARequest) (*identity.Identity, *foliov1.CARequest, error) {
	id, r, err := s.authenticate(sr)
	if err != nil {
		return nil, nil, err
	}
	if id.Role != identity.RoleAdmin {
		return nil, nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s is a %s: %w", id.Label(), id.Role, ErrNotAdmin))
	}
	return id, r, nil
}

// authenticate checks a signed request: well formed, signed by a valid,
// unrevoked identity of this organisation, fresh, and not a replay.
func (s *Service) authenticate(sr *foliov1.SignedCARequest) (*identity.Identity, *foliov1.CARequest, error) {
	var r foliov1.CARequest
	if len(sr.GetRequest()) == 0 || len(sr.GetSignature()) == 0 {
		return nil, nil, connect.NewError(connect.CodeInvalidArgument, errors.New("CA request must carry request bytes and a signature"))
	}
	if err := proto.Unmarshal(sr.Request, &r); err != nil {
		return nil, nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("CA request: %w", err))
	}
	id, err := s.verifier.ValidateSerialized(r.Signer)
	if err != nil {
		return nil, nil, connect.NewError(connect.CodePermissionDenied, err)
	}
	if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainCARequest, sr.Request, sr.Signature); err != nil {
		return nil, nil, connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("CA request from %s: %w", id.Label(), err))
	}
	now := s.now()
	at := time.Unix(0, r.TimestampUnixNano)
	if d := now.Sub(at); d > RequestWindow || d < -RequestWindow {
		return nil, nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("CA request signed at %s, more than %s from the CA's clock (%s): check the clocks", at.UTC().Format(time.RFC3339), RequestWindow, now.UTC().Format(time.RFC3339)))
	}
	if len(r.Nonce) < minNonceBytes {
		return nil, nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("CA request nonce is %d bytes, want at least %d", len(r.Nonce), minNonceBytes))
	}
	if err := s.rememberNonce(string(r.Nonce), now); err != nil {
		return nil, nil, err
	}
	return id, &r, nil
}

func (s *Service) rememberNonce(nonce string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.mu.nonces[nonce]; seen {
		return connect.NewError(connect.CodeAlreadyExists, errors.New("CA request replayed: this nonce was already used"))
	}
	if len(s.mu.nonces) >= maxNonces {
		for n, t := range s.mu.nonces {
			if now.Sub(t) > 2*RequestWindow {
				delete(s.mu.nonces, n)
			}
		}
		if len(s.mu.nonces) >= maxNonces {
			return connect.NewError(connect.CodeResourceExhausted, errors.New("CA is receiving too many admin requests; retry shortly"))
		}
	}
	s.mu.nonces[nonce] = now
	return nil
}

func toConnect(err error) error {
	code := connect.CodeInternal
	switch {
	case errors.Is(err, ErrAlreadyRegistered):
		code = connect.CodeAlreadyExists
	case errors.Is(err, ErrUnknownIdentity):
		code = connect.CodeNotFound
	case errors.Is(err, ErrBadSecret), errors.Is(err, ErrNotAdmin), errors.Is(err, ErrNotYours):
		code = connect.CodePermissionDenied
	case errors.Is(err, ErrExpiredTooLong):
		code = connect.CodeFailedPrecondition
	case errors.Is(err, ErrRevoked):
		code = connect.CodeFailedPrecondition
	case errors.Is(err, ErrBadRequest):
		code = connect.CodeInvalidArgument
	}
	return connect.NewError(code, err)
}
