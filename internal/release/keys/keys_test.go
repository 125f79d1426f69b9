package keys_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/releasetest"
)

func TestKeyServerInfo(t *testing.T) {
	c := releasetest.NewConsortium(t, 2)
	peer := c.Identity(t, 0, "peer0.org1", identity.RolePeer)
	kex, err := keys.LoadOrCreateKex(filepath.Join(t.TempDir(), "kex.pem"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := keys.Describe(peer, kex)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.VerifyKeyServer(info, c.MSP, "peer0.org1", peer.ID())
	if err != nil {
		t.Fatal(err)
	}
	if ks.KexPub != hex.EncodeToString(kex.PublicKey().Bytes()) || ks.NodeID != peer.ID() {
		t.Fatalf("verified entry %+v", ks)
	}
	other := c.Identity(t, 1, "peer0.org2", identity.RolePeer)
	user := c.Identity(t, 0, "peer0.org1", identity.RoleClient)
	otherKex, _ := ecdh.P256().GenerateKey(rand.Reader)
	for name, mod := range map[string]func(i *keys.KeyServerInfo) (string, string){
		"kex key not certified": func(i *keys.KeyServerInfo) (string, string) {
			i.KexPub = hex.EncodeToString(otherKex.PublicKey().Bytes())
			return "peer0.org1", peer.ID()
		},
		"another node's certificate": func(i *keys.KeyServerInfo) (string, string) {
			o, _ := keys.Describe(other, kex)
			*i = *o
			i.Name = "peer0.org1"
			return "peer0.org1", peer.ID()
		},
		"node ID the channel does not know": func(i *keys.KeyServerInfo) (string, string) {
			return "peer0.org1", other.ID()
		},
		"a client's certificate": func(i *keys.KeyServerInfo) (string, string) {
			o, _ := keys.Describe(user, kex)
			*i = *o
			return "peer0.org1", user.ID()
		},
		"unknown organisation": func(i *keys.KeyServerInfo) (string, string) {
			i.MSPID = "EvilMSP"
			return "peer0.org1", peer.ID()
		},
	} {
		bad := *info
		wantName, wantID := mod(&bad)
		if _, err := keys.VerifyKeyServer(&bad, c.MSP, wantName, wantID); !errors.Is(err, keys.ErrForged) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSharesOpenTheKey(t *testing.T) {
	const rid = "0123456789abcdef0123456789abcdef"
	key, _ := keys.NewContentKey()
	var kexes []*ecdh.PrivateKey
	rec := &release.Record{ID: rid, Threshold: 2, KeyCommit: hex.EncodeToString(release.KeyCommitment(rid, key))}
	shares, err := keys.SplitKey(key, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		k, _ := ecdh.P256().GenerateKey(rand.Reader)
		kexes = append(kexes, k)
		enc, err := keys.EncryptShare(k.PublicKey().Bytes(), rid, i+1, shares[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(enc) != release.EncShareBytes {
			t.Fatalf("encrypted share of %d bytes, the record expects %d", len(enc), release.EncShareBytes)
		}
		rec.KeyServers = append(rec.KeyServers, release.KeyServer{Index: i + 1, Name: "ks", ShareCommit: hex.EncodeToString(release.ShareCommitment(rid, i+1, shares[i])),
			EncShare: hex.EncodeToString(enc)})
	}
	open := func(idx int) []byte {
		enc, _ := hex.DecodeString(rec.KeyServers[idx-1].EncShare)
		s, err := keys.DecryptShare(kexes[idx-1], rid, idx, enc)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	got, err := keys.OpenKey(rec, map[int][]byte{1: open(1), 3: open(3)})
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("open with shares 1 and 3: %v", err)
	}
	// Only the key server's key opens its share, only in its slot.
	enc1, _ := hex.DecodeString(rec.KeyServers[0].EncShare)
	if _, err := keys.DecryptShare(kexes[1], rid, 1, enc1); !errors.Is(err, keys.ErrForged) {
		t.Fatalf("another key server opened share 1: %v", err)
	}
	if _, err := keys.DecryptShare(kexes[0], rid, 2, enc1); !errors.Is(err, keys.ErrForged) {
		t.Fatalf("share 1 opened as share 2: %v", err)
	}
	// A forged share is refused by its commitment.
	forged := open(2)
	forged[5] ^= 1
	if _, err := keys.OpenKey(rec, map[int][]byte{1: open(1), 2: forged}); !errors.Is(err, keys.ErrForged) || !strings.Contains(err.Error(), "commitment") {
		t.Fatalf("forged share: %v", err)
	}
	if _, err := keys.OpenKey(rec, map[int][]byte{1: open(1)}); !errors.Is(err, keys.ErrTooFewShares) {
		t.Fatalf("one share: %v", err)
	}
}
