// Package installer is a peer's side of the contract lifecycle
// (docs/lifecycle.md): it serves LifecycleService — installing a signed
// package into the peer's enclave and recording the install on chain,
// listing installed packages, reporting a contract's status — and it
// watches whether the peer can endorse the version in force (a peer
// without it is halted for that contract until it is installed).
package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/commit"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/types"
)

// Enclave loads contract modules (the peer's enclave, which runs a
// package's module only if an admin under the genesis block's roots signed
// it).
type Enclave interface {
	Install(ctx context.Context, m enclave.Module) error
}

// Committer is what the installer needs of the peer's committer.
type Committer interface {
	Height() uint64
	Wait(ctx context.Context, txID string) (commit.Status, error)
}

// Options configure an Installer. New calls EnsureDefaults and Validate.
//
// Contracts stays the concrete registry: the installer is its RPC front
// end and reads nearly all of it (definitions, install records, local
// packages, activations), so an interface would repeat the registry's
// whole API (STYLE 4); tests build a real one on a temporary directory.
type Options struct {
	ChannelID string
	// Self is the peer's signing identity: it signs its install records,
	// and its organisation's admins may install. Required.
	Self *identity.SigningIdentity
	// MSP validates packagers. Required.
	MSP lifecycle.IdentityValidator
	// Contracts is the peer's view of the channel's contracts and the
	// store of its installed packages. Required.
	Contracts *lifecycle.Registry
	// Enclave loads installed modules. Required.
	Enclave Enclave
	// Committer tells the height and when install records commit.
	// Required.
	Committer Committer
	// Submit hands a signed transaction to the ordering service. Required.
	Submit func(ctx context.Context, env *foliov1.Envelope) error
	// Caller returns the MSP-validated client of a request. Required.
	Caller func(context.Context) (*identity.Identity, bool)
	// RecordTimeout bounds waiting for an install record to commit.
	// Default 30s.
	RecordTimeout time.Duration
	// Registerer, if set, gets the folio_contract_halted gauge. Default:
	// the gauge is kept but not exported.
	Registerer prometheus.Registerer
	// Logger is required.
	Logger *slog.Logger
}

// EnsureDefaults fills in the defaults of the fields left zero.
func (o *Options) EnsureDefaults() {
	if o.RecordTimeout == 0 {
		o.RecordTimeout = 30 * time.Second
	}
}

// Validate reports the required fields missing.
func (o *Options) Validate() error {
	var missing []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"Self", o.Self != nil}, {"MSP", o.MSP != nil}, {"Contracts", o.Contracts != nil}, {"Enclave", o.Enclave != nil},
		{"Committer", o.Committer != nil}, {"Submit", o.Submit != nil}, {"Caller", o.Caller != nil}, {"Logger", o.Logger != nil},
	} {
		if !f.set {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("installer: %s required", strings.Join(missing, ", "))
	}
	if o.RecordTimeout < 0 {
		return fmt.Errorf("installer: RecordTimeout is negative (%s)", o.RecordTimeout)
	}
	return nil
}

// Installer serves LifecycleService. Safe for concurrent use.
type Installer struct {
	o      Options
	halted *prometheus.GaugeVec

	kick chan struct{}

	mu struct {
		sync.Mutex
		recording map[string]bool // "name/version" install records under way
		halted    map[string]string
	}
}

var _ foliov1connect.LifecycleServiceHandler = (*Installer)(nil)

// New returns an installer.
func New(o Options) (*Installer, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	in := &Installer{o: o, kick: make(chan struct{}, 1)}
	in.mu.recording = map[string]bool{}
	in.mu.halted = map[string]string{}
	in.halted = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "folio_contract_halted",
		Help: "1 while this peer cannot endorse a contract because the version in force is not installed here.",
	}, []string{"contract"})
	if o.Registerer != nil {
		if err := o.Registerer.Register(in.halted); err != nil {
			return nil, err
		}
	}
	return in, nil
}

func (in *Installer) peerName() string { return in.o.Self.Name }

// Install installs a signed package on this peer: an admin of the peer's
// organisation asks; the package's signature and module hash are checked;
// the module is loaded into the enclave (which refuses modules that do not
// validate); it is stored; and the peer records the install on chain,
// waiting for the record to commit.
func (in *Installer) Install(ctx context.Context, req *connect.Request[foliov1.InstallRequest]) (*connect.Response[foliov1.InstallResponse], error) {
	caller, ok := in.o.Caller(ctx)
	if !ok {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("no caller identity"))
	}
	if caller.Role != identity.RoleAdmin || caller.MSPID != in.o.Self.MSPID {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("installing on %s takes an admin of %s; %s is a %s of %s",
			in.peerName(), in.o.Self.MSPID, caller.Label(), caller.Role, caller.MSPID))
	}
	pkg, packager, err := lifecycle.OpenPackage(req.Msg.GetPackage(), in.o.MSP)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	// The enclave refuses it anyway (docs/enclave.md); saying so here
	// gives the operator the reason before anything is loaded.
	if packager.Role != identity.RoleAdmin {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("package %s is signed by %s, a %s: the enclave runs only modules packaged by an admin (folio contract package --as admin@ORG)",
			types.PackageID(pkg.Name, pkg.Version, pkg.WasmSha256), packager.Label(), packager.Role))
	}
	if err := in.checkAgainstChannel(pkg); err != nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, err)
	}
	id := types.PackageID(pkg.Name, pkg.Version, pkg.WasmSha256)
	err = in.o.Enclave.Install(ctx, enclave.Module{Name: pkg.Name, Version: pkg.Version, Confidential: pkg.Confidential, Signed: req.Msg.GetPackage()})
	if err != nil {
		if me := new(vm.ModuleError); errors.As(err, &me) {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("package %s: the enclave refused the module: %w", id, err))
		}
		if errors.Is(err, enclave.ErrUntrustedModule) {
			return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("package %s: the enclave refused the module: %w", id, err))
		}
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("package %s: load into the enclave: %w", id, err))
	}
	if err := in.o.Contracts.StorePackage(req.Msg.GetPackage()); err != nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, err)
	}
	in.o.Logger.Info("contract package installed", "package", id, "packager", packager.Label(), "by", caller.Label())
	in.CheckHalted(in.o.Committer.Height())
	txID, block, err := in.record(ctx, lifecycle.LocalPackage{Name: pkg.Name, Version: pkg.Version, PackageHash: pkg.WasmSha256, Confidential: pkg.Confidential})
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("package %s is installed on %s, but its install record did not commit: %w (the peer retries in the background)", id, in.peerName(), err))
	}
	return connect.NewResponse(&foliov1.InstallResponse{PackageId: id, TxId: txID, BlockNumber: block}), nil
}

// checkAgainstChannel refuses a package the channel's definitions already
// contradict: another module under a defined version, or another
// confidentiality than the contract's.
func (in *Installer) checkAgainstChannel(pkg *foliov1.ContractPackage) error {
	d, err := in.o.Contracts.Effective(pkg.Name, in.o.Committer.Height())
	if errors.Is(err, lifecycle.ErrUnknownContract) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.Confidential != pkg.Confidential {
		return fmt.Errorf("%s is %s on this channel; the package says otherwise", pkg.Name, map[bool]string{true: "confidential", false: "not confidential"}[d.Confidential])
	}
	for _, v := range []*lifecycle.Definition{d, in.o.Contracts.Next(pkg.Name, in.o.Committer.Height())} {
		if v != nil && v.Version == pkg.Version && !bytes.Equal(v.PackageHash, pkg.WasmSha256) {
			return fmt.Errorf("%s version %s is defined on this channel with package hash %x, this package's module has %x: give it a new version", pkg.Name, pkg.Version, v.PackageHash, pkg.WasmSha256)
		}
	}
	return nil
}

// record submits this peer's install record of a package unless the chain
// already has it, and waits for it to commit. It returns the record's
// transaction and block ("" and 0 when it was already recorded).
func (in *Installer) record(ctx context.Context, p lifecycle.LocalPackage) (string, uint64, error) {
	if rec, ok := in.o.Contracts.Installed(p.Name, p.Version, in.peerName()); ok && bytes.Equal(rec.PackageHash, p.PackageHash) && rec.Confidential == p.Confidential {
		return rec.TxID, rec.Block, nil
	}
	key := p.Name + "/" + p.Version
	in.mu.Lock()
	if in.mu.recording[key] {
		in.mu.Unlock()
		return "", 0, fmt.Errorf("an install record of %s is already under way", key)
	}
	in.mu.recording[key] = true
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		delete(in.mu.recording, key)
		in.mu.Unlock()
	}()
	req := &foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Install{Install: &foliov1.InstallRecord{
		Contract: p.Name, Version: p.Version, PackageHash: p.PackageHash, Peer: in.peerName(), Confidential: p.Confidential}}}
	env, txID, err := types.NewLifecycleEnvelope(in.o.Self, in.o.ChannelID, req, nil)
	if err != nil {
		return "", 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, in.o.RecordTimeout)
	defer cancel()
	if err := in.o.Submit(ctx, env); err != nil {
		return txID, 0, err
	}
	st, err := in.o.Committer.Wait(ctx, txID)
	if err != nil {
		return txID, 0, err
	}
	if st.Code != foliov1.ValidationCode_VALID {
		return txID, st.Block, fmt.Errorf("install record %s is %s in block %d: %s", txID, st.Code, st.Block, st.Reason)
	}
	in.o.Logger.Info("install recorded on chain", "contract", p.Name, "version", p.Version, "tx_id", txID, "block", st.Block)
	return txID, st.Block, nil
}

// Run records, in the background, the installs of packages this peer holds
// but the chain does not know of (the genesis contracts `folio network up`
// placed, an Install whose record failed), retrying until ctx ends.
func (in *Installer) Run(ctx context.Context) {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-in.kick:
		}
		pending, err := in.reconcile(ctx)
		if err != nil && ctx.Err() == nil {
			in.o.Logger.Warn("recording installed packages on chain", "err", err)
		}
		if pending {
			t.Reset(5 * time.Second)
		} else {
			t.Reset(time.Minute)
		}
	}
}

func (in *Installer) reconcile(ctx context.Context) (pending bool, err error) {
	if in.o.Committer.Height() < 1 {
		return true, nil
	}
	local, err := in.o.Contracts.Local()
	if err != nil {
		return true, err
	}
	var errs []error
	for _, p := range local {
		if _, _, err := in.record(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("%s version %s: %w", p.Name, p.Version, err))
		}
	}
	return len(errs) > 0, errors.Join(errs...)
}

// CheckHalted updates, for the next block (height), whether this peer can
// endorse each contract, logging every change and warning of a pending
// switch to a version it does not have. The committer calls it after each
// block.
func (in *Installer) CheckHalted(height uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, name := range in.o.Contracts.Names() {
		d, err := in.o.Contracts.Effective(name, height)
		if err != nil {
			continue
		}
		state := ""
		if !in.o.Contracts.HasPackage(d) {
			state = fmt.Sprintf("halted: %s version %s (effective from block %d) is not installed", name, d.Version, d.FromBlock)
		} else if n := in.o.Contracts.Next(name, height); n != nil && !in.o.Contracts.HasPackage(n) {
			state = fmt.Sprintf("will halt at block %d: %s version %s is not installed", n.FromBlock, name, n.Version)
		}
		prev, seen := in.mu.halted[name]
		if seen && prev == state {
			continue
		}
		in.mu.halted[name] = state
		switch {
		case state == "":
			in.halted.WithLabelValues(name).Set(0)
			if seen {
				in.o.Logger.Info("contract endorsing resumed", "contract", name, "version", d.Version)
			}
		case d != nil && !in.o.Contracts.HasPackage(d):
			in.halted.WithLabelValues(name).Set(1)
			in.o.Logger.Warn("contract halted on this peer: it keeps committing blocks but cannot endorse until the version is installed",
				"contract", name, "version", d.Version, "from_block", d.FromBlock, "detail", state)
		default:
			in.halted.WithLabelValues(name).Set(0)
			in.o.Logger.Warn("pending contract switch to a version this peer lacks", "contract", name, "detail", state)
		}
	}
}

// Installed lists the packages installed on this peer.
func (in *Installer) Installed(ctx context.Context, _ *connect.Request[foliov1.InstalledRequest]) (*connect.Response[foliov1.InstalledResponse], error) {
	local, err := in.o.Contracts.Local()
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	out := &foliov1.InstalledResponse{Peer: in.peerName()}
	for _, p := range local {
		out.Packages = append(out.Packages, &foliov1.InstalledPackage{Name: p.Name, Version: p.Version, PackageHash: p.PackageHash})
	}
	sort.Slice(out.Packages, func(i, j int) bool {
		a, b := out.Packages[i], out.Packages[j]
		return a.Name < b.Name || a.Name == b.Name && a.Version < b.Version
	})
	return connect.NewResponse(out), nil
}

// Status reports a contract's versions as this peer's committed chain has
// them: the version in force for the next block, a pending switch, install
// records per peer, peers halted for it, the activation history and the
// definition's sequence (the next activation carries sequence + 1). A
// contract whose first activation is still pending, or that is only
// installed (its install records are what its first activation names: `folio
// contract activate` reads the package hash from them), has no effective
// Contracts answers the status of every defined contract.
func (in *Installer) Contracts(ctx context.Context, _ *connect.Request[foliov1.ContractsRequest]) (*connect.Response[foliov1.ContractsResponse], error) {
	out := &foliov1.ContractsResponse{}
	for _, name := range in.o.Contracts.Names() {
		st, err := in.Status(ctx, connect.NewRequest(&foliov1.ContractStatusRequest{Name: name}))
		if err != nil {
			return nil, err
		}
		out.Contracts = append(out.Contracts, st.Msg)
	}
	return connect.NewResponse(out), nil
}

// version yet; one neither activated nor installed is not found.
func (in *Installer) Status(ctx context.Context, req *connect.Request[foliov1.ContractStatusRequest]) (*connect.Response[foliov1.ContractStatus], error) {
	name := req.Msg.GetName()
	height := in.o.Committer.Height()
	// The sequence is read after the height, so it is never older than
	// the height it is reported with.
	seq := in.o.Contracts.Sequence(name)
	installs := in.o.Contracts.Installs(name)
	st := &foliov1.ContractStatus{Name: name, Height: height, Sequence: seq}
	d, err := in.o.Contracts.Effective(name, height)
	switch {
	case err == nil:
		st.EffectiveVersion, st.EffectivePolicy = d.Version, d.PolicySrc
	case !errors.Is(err, lifecycle.ErrUnknownContract) || seq == 0 && len(installs) == 0:
		return nil, connect.NewError(connect.CodeNotFound, err)
	}
	if n := in.o.Contracts.Next(name, height); n != nil {
		st.Next = &foliov1.ContractVersionInfo{Version: n.Version, StartBlock: n.FromBlock, Policy: n.PolicySrc}
	}
	for _, p := range in.o.Contracts.Peers() {
		pi := &foliov1.PeerInstalls{Peer: p}
		for _, in := range installs[p] {
			pi.Versions = append(pi.Versions, in.Version)
			pi.PackageHashes = append(pi.PackageHashes, in.PackageHash)
		}
		st.Installs = append(st.Installs, pi)
	}
	st.HaltedPeers = in.o.Contracts.Halted(name, height)
	for _, a := range in.o.Contracts.Activations(name) {
		st.Activations = append(st.Activations, &foliov1.ActivationRecord{Version: a.Version, StartBlock: a.StartBlock,
			BlockNumber: a.Block, TxId: a.TxID, Signers: a.Signers, Sequence: a.Sequence})
	}
	return connect.NewResponse(st), nil
}

// Kick asks Run to reconcile now.
func (in *Installer) Kick() {
	select {
	case in.kick <- struct{}{}:
	default:
	}
}
