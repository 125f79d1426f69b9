package lifecycle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/types"
)

// The reasons a lifecycle transaction is refused, one per rule, at
// capability level 1 (the binding rules of level 2 are binding_test's).
func TestLifecycleRejections(t *testing.T) {
	c := newChain(t)
	c.installAll(2, 1)
	raw := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	installOf := func(peer *identity.SigningIdentity, rec *foliov1.InstallRecord) tx {
		return tx{id: c.nextID(), creator: peer, data: c.lifecycleTx(&foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Install{Install: rec}})}
	}
	by := func(creator *identity.SigningIdentity, a *foliov1.Activation, approvers ...*identity.SigningIdentity) tx {
		return tx{id: c.nextID(), creator: creator, data: c.lifecycleTx(&foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Activate{Activate: a}}, approvers...)}
	}
	other := bytes.Repeat([]byte{0x99}, 32)
	for _, tc := range []struct {
		name string
		tx   tx
		says []string
	}{
		{"undecodable transaction", tx{id: "x", creator: c.admin1, data: []byte{0xff}}, []string{"lifecycle transaction does not decode"}},
		{"undecodable request", tx{id: "x", creator: c.admin1, data: raw(&foliov1.LifecycleTx{Request: []byte{0xff}})}, []string{"lifecycle request does not decode"}},
		{"no operation", tx{id: "x", creator: c.admin1, data: c.lifecycleTx(&foliov1.LifecycleRequest{})}, []string{"names no operation"}},
		{"reserved contract name", installOf(c.peer1, &foliov1.InstallRecord{Contract: "folio.lifecycle", Version: "1", PackageHash: c.v1, Peer: "peer0.org1"}),
			[]string{`contract name "folio.lifecycle": names starting with "folio." are reserved`}},
		{"malformed contract name", installOf(c.peer1, &foliov1.InstallRecord{Contract: "9lives", Version: "1", PackageHash: c.v1, Peer: "peer0.org1"}),
			[]string{`contract name "9lives": use a letter`}},
		{"malformed version", installOf(c.peer1, &foliov1.InstallRecord{Contract: "copyright", Version: "1/../2", PackageHash: c.v1, Peer: "peer0.org1"}),
			[]string{`version "1/../2"`}},
		{"hash not a SHA-256", installOf(c.peer1, &foliov1.InstallRecord{Contract: "copyright", Version: "1", PackageHash: []byte{1}, Peer: "peer0.org1"}),
			[]string{"package hash of 1 bytes"}},
		{"install for a node outside the channel", installOf(c.peer1, &foliov1.InstallRecord{Contract: "copyright", Version: "1", PackageHash: c.v1, Peer: "peer9.org1"}),
			[]string{`install record for "peer9.org1", which is not a peer of the channel`}},
		{"install recorded for another peer", installOf(c.peer1, &foliov1.InstallRecord{Contract: "copyright", Version: "1", PackageHash: c.v1, Peer: "peer0.org2"}),
			[]string{"install record for peer peer0.org2 (Org2MSP) is signed by peer0.org1@Org1", "only that peer may record its installs"}},
		{"install recorded by an admin", installOf(c.admin1, &foliov1.InstallRecord{Contract: "copyright", Version: "1", PackageHash: c.v1, Peer: "peer0.org1"}),
			[]string{"role admin"}},
		{"install of another module under a defined version", c.install(c.peer1, "1", other),
			[]string{"copyright version 1 is defined with package hash", "a version names one package"}},
		{"unparsable endorsement policy", c.activate(&foliov1.Activation{Version: "2", PackageHash: c.v2, EndorsementPolicy: "AND(", AfterBlocks: 1}),
			[]string{"endorsement policy: "}},
		{"activation by a client", by(c.client, &foliov1.Activation{Contract: "copyright", Version: "2", PackageHash: c.v2, AfterBlocks: 1}, c.admin1, c.admin2),
			[]string{"activation submitted by user1@Org1, a client: only admins may activate"}},
		{"approvals short of the policy", by(c.admin1, &foliov1.Activation{Contract: "copyright", Version: "2", PackageHash: c.v2, AfterBlocks: 1}),
			[]string{"activation of copyright version 2 is not approved"}},
		{"another module under a defined version", c.activate(&foliov1.Activation{Version: "1", PackageHash: c.v2, AfterBlocks: 1}),
			[]string{"copyright version 1 was defined with package hash", "give the new package a new version"}},
		{"confidentiality changed", c.activate(&foliov1.Activation{Version: "2", PackageHash: c.v2, Confidential: true, AfterBlocks: 1}),
			[]string{"copyright is not confidential; an activation cannot change that"}},
		{"version never installed", c.activate(&foliov1.Activation{Version: "4", PackageHash: other, AfterBlocks: 1}),
			[]string{"copyright version 4 was never installed on any peer"}},
		{"more installs required than peers", c.activate(&foliov1.Activation{Version: "2", PackageHash: c.v2, MinInstalled: 3, AfterBlocks: 1}),
			[]string{"--min-installed 3: the channel has only 2 peers"}},
		{"start block not after the activation's", c.activate(&foliov1.Activation{Version: "2", PackageHash: c.v2, AtBlock: 3}),
			[]string{"start block 3 is not after block 3"}},
		{"a new contract without a policy", c.activate(&foliov1.Activation{Contract: "newone", Version: "1", PackageHash: c.v1, AfterBlocks: 1}),
			[]string{"newone is a new contract: its activation must give an endorsement policy"}},
	} {
		c.refused(tc.name, c.block(3, 1, tc.tx)[0], tc.says...)
	}
	if got := c.effective(100); got != "1" {
		t.Fatalf("after the refusals version %s is in force, want 1", got)
	}
}

// An activation needs the package installed on every peer (or
// --min-installed of them), with the same hash and confidentiality.
func TestActivationWaitsForInstalls(t *testing.T) {
	c := newChain(t)
	c.accepted("install on peer0.org1", c.block(2, 1, c.install(c.peer1, "2", c.v2))[0])
	c.refused("installed on one of two peers", c.block(3, 1, c.activate(&foliov1.Activation{Version: "2", PackageHash: c.v2, AfterBlocks: 1}))[0],
		"copyright version 2 (sha256:2222222222222222…) is installed on 1 peers, 2 required; missing: peer0.org2")
	c.accepted("one of two is enough when asked", c.block(4, 1, c.activate(&foliov1.Activation{Version: "2", PackageHash: c.v2, MinInstalled: 1, AfterBlocks: 1}))[0])

	c.accepted("install of another module as version 3", c.block(6, 1, c.install(c.peer2, "3", c.v1))[0])
	c.refused("peers installed different modules", c.block(7, 1, c.activate(&foliov1.Activation{Version: "3", PackageHash: c.v3, MinInstalled: 1, AfterBlocks: 1}))[0],
		"peers installed a different package as copyright version 3 than sha256:3333333333333333…: peer0.org2 (sha256:1111111111111111…)")
}

// The registry's read side after installs and an activation: who installed
// what, who is halted for the version in force, and what was defined.
func TestInstallsAndHalted(t *testing.T) {
	c := newChain(t)
	if got := c.reg.Halted("copyright", 1); !slices.Equal(got, []string{"peer0.org1", "peer0.org2"}) {
		t.Fatalf("halted before any install: %v", got)
	}
	c.accepted("install", c.block(2, 1, c.install(c.peer1, "1", c.v1))[0])
	c.accepted("install", c.block(3, 1, c.install(c.peer1, "2", c.v2), c.install(c.peer2, "2", c.v2))[1])
	if got := c.reg.Halted("copyright", 3); !slices.Equal(got, []string{"peer0.org2"}) {
		t.Fatalf("halted for version 1: %v", got)
	}
	c.accepted("activation", c.block(4, 1, c.activate(&foliov1.Activation{Version: "2", PackageHash: c.v2, AfterBlocks: 2}))[0])
	if got := c.reg.Halted("copyright", 6); len(got) != 0 {
		t.Fatalf("halted for version 2, installed everywhere: %v", got)
	}
	if got := c.reg.Halted("nope", 6); got != nil {
		t.Fatalf("halted for an undefined contract: %v", got)
	}
	in, ok := c.reg.Installed("copyright", "2", "peer0.org2")
	if !ok || in.Block != 3 || !bytes.Equal(in.PackageHash, c.v2) {
		t.Fatalf("install record: %+v, %v", in, ok)
	}
	if _, ok := c.reg.Installed("copyright", "1", "peer0.org2"); ok {
		t.Fatal("peer0.org2 never installed version 1")
	}
	installs := c.reg.Installs("copyright")
	if len(installs["peer0.org1"]) != 2 || installs["peer0.org1"][0].Version != "1" || installs["peer0.org1"][1].Version != "2" || len(installs["peer0.org2"]) != 1 {
		t.Fatalf("installs: %v", installs)
	}
	if got := c.reg.Names(); !slices.Equal(got, []string{"copyright"}) {
		t.Fatalf("names: %v", got)
	}
	if got := c.reg.Peers(); !slices.Equal(got, []string{"peer0.org1", "peer0.org2"}) {
		t.Fatalf("peers: %v", got)
	}
	// A restarted peer reads the same from the committed state.
	r := c.reloaded()
	if got := r.Halted("copyright", 6); len(got) != 0 || len(r.Installs("copyright")["peer0.org1"]) != 2 {
		t.Fatalf("after reload: halted %v, installs %v", got, r.Installs("copyright"))
	}
}

// Packages installed on this peer: Store refuses names that are not
// allowed and another module under an installed version; Local lists what
// is stored, taking a package's confidentiality from its metadata or, for
// a package placed without any, from the channel's definition.
func TestStoreAndLocal(t *testing.T) {
	wasm := []byte("\x00asm module")
	sum := sha256.Sum256(wasm)
	dir := t.TempDir()
	r, err := New(dir, &foliov1.ChannelConfig{Contracts: []*foliov1.ContractDefinition{
		{Name: "secret", Version: "1", EndorsementPolicy: "OR('Org1MSP.member')", PackageHash: sum[:], Confidential: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if local, err := r.Local(); err != nil || len(local) != 0 {
		t.Fatalf("nothing installed: %v, %v", local, err)
	}
	for _, bad := range [][2]string{{"../etc", "1"}, {"copyright", "../1"}, {"", "1"}, {"copyright", ""}} {
		if err := r.Store(bad[0], bad[1], wasm, false); !errors.Is(err, ErrBadPackage) {
			t.Errorf("Store(%q, %q) = %v, want ErrBadPackage", bad[0], bad[1], err)
		}
	}
	if err := r.Store("copyright", "1", wasm, false); err != nil {
		t.Fatal(err)
	}
	if err := r.Store("copyright", "1", wasm, false); err != nil {
		t.Fatalf("the same module again: %v", err)
	}
	if err := r.Store("copyright", "1", []byte("\x00asm other"), false); !errors.Is(err, ErrBadPackage) || !strings.Contains(err.Error(), "already installed with another module") {
		t.Fatalf("another module under an installed version: %v", err)
	}
	if err := r.Store("copyright", "2", []byte("\x00asm v2"), true); err != nil {
		t.Fatal(err)
	}
	// A genesis package placed by `folio network up`: no metadata.
	if err := r.Store("secret", "1", wasm, false); err != nil {
		t.Fatal(err)
	}
	if err := removeMeta(dir, "secret", "1"); err != nil {
		t.Fatal(err)
	}
	local, err := r.Local()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range local {
		got[p.Name+"/"+p.Version] = p.Confidential
	}
	if len(got) != 3 || got["copyright/1"] || !got["copyright/2"] || !got["secret/1"] {
		t.Fatalf("local packages (name/version: confidential): %v", got)
	}
	d, err := r.Effective("secret", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !r.HasPackage(d) {
		t.Fatal("the defined package is stored, HasPackage says no")
	}
	if r.HasPackage(&Definition{Name: "copyright", Version: "2", PackageHash: sum[:]}) {
		t.Fatal("a stored module with another hash than the definition's counts as installed")
	}
}

// TestSignedPackages: an installed signed package is kept beside its
// module for the enclave (SignedPackage), the same after a restart; a
// module stored without one (a genesis contract) has none; a package file
// that does not match the module beside it is an error, not a package.
func TestSignedPackages(t *testing.T) {
	dir := t.TempDir()
	cfg := &foliov1.ChannelConfig{ChannelId: "folio"}
	r, err := New(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin := identitytest.NewOrg(t, "Org1").Member(t, "admin", identity.RoleAdmin)
	wasm := []byte("\x00asm copyright v2")
	spkg, err := types.PackageContract(admin, "copyright", "2", wasm, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StorePackage(spkg); err != nil {
		t.Fatal(err)
	}
	r2, err := New(dir, cfg) // a restarted peer
	if err != nil {
		t.Fatal(err)
	}
	got, err := r2.SignedPackage("copyright", "2")
	if err != nil || !proto.Equal(got, spkg) {
		t.Fatalf("signed package after a restart: %v, %v", got, err)
	}
	local, err := r2.Local()
	if err != nil || len(local) != 1 || !local[0].Confidential {
		t.Fatalf("local packages: %+v, %v", local, err)
	}
	if err := r.Store("copyright", "1", []byte("\x00asm genesis"), false); err != nil {
		t.Fatal(err)
	}
	if got, err := r.SignedPackage("copyright", "1"); got != nil || err != nil {
		t.Fatalf("a module stored without a package: %v, %v", got, err)
	}
	other, err := types.PackageContract(admin, "copyright", "2", []byte("\x00asm other"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StorePackage(other); !errors.Is(err, ErrBadPackage) {
		t.Fatalf("another package under an installed version: %v", err)
	}
	raw, _ := proto.Marshal(other)
	if err := os.WriteFile(filepath.Join(dir, "copyright", "2.pkg"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SignedPackage("copyright", "2"); !errors.Is(err, ErrBadPackage) {
		t.Fatalf("a package file that does not match its module: %v", err)
	}
	if _, err := r.SignedPackage("../x", "2"); !errors.Is(err, ErrBadPackage) {
		t.Fatalf("a path as a name: %v", err)
	}
}

// OpenPackage checks a package's module hash, its packager and the
// packager's signature, each refusal wrapping types.ErrBadPackage.
func TestOpenPackage(t *testing.T) {
	o1, o3 := identitytest.NewOrg(t, "Org1"), identitytest.NewOrg(t, "Org3")
	msp, err := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: o1.CA.Cert}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := o1.Member(t, "admin", identity.RoleAdmin)
	good, err := types.PackageContract(admin, "copyright", "2", []byte("\x00asm v2"), false)
	if err != nil {
		t.Fatal(err)
	}
	pkg, packager, err := OpenPackage(good, msp)
	if err != nil || pkg.Version != "2" || packager.Label() != "admin@Org1" {
		t.Fatalf("good package: %v, %v, %v", pkg, packager, err)
	}
	stranger, err := types.PackageContract(o3.Member(t, "admin", identity.RoleAdmin), "copyright", "2", []byte("\x00asm v2"), false)
	if err != nil {
		t.Fatal(err)
	}
	forged := proto.Clone(good).(*foliov1.SignedContractPackage)
	forged.Signature[len(forged.Signature)-1] ^= 1
	var cp foliov1.ContractPackage
	if err := proto.Unmarshal(good.Package, &cp); err != nil {
		t.Fatal(err)
	}
	cp.Wasm = []byte("\x00asm swapped")
	swapped, err := proto.Marshal(&cp)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		spkg *foliov1.SignedContractPackage
		says string
	}{
		"module swapped":        {&foliov1.SignedContractPackage{Package: swapped, Signature: good.Signature}, "the module's SHA-256 is"},
		"signature flipped":     {forged, "signature of packager admin@Org1"},
		"packager not a member": {stranger, "packager: "},
		"empty":                 {&foliov1.SignedContractPackage{}, "name, version and module are required"},
		"nil":                   {nil, "name, version and module are required"},
	} {
		if _, _, err := OpenPackage(tc.spkg, msp); !errors.Is(err, types.ErrBadPackage) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want ErrBadPackage saying %q", name, err, tc.says)
		}
	}
}

// removeMeta deletes the metadata Store wrote beside a module.
func removeMeta(dir, name, version string) error {
	return os.Remove(filepath.Join(dir, name, version+".json"))
}
