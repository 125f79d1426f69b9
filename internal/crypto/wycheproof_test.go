package crypto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"testing"

	"github.com/folio-ledger/folio/internal/testvectors"
)

// The Wycheproof files are loaded at run time from ../shared/testdata; their
// expectations are never copied into this package.

type wycheTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"`
	Msg     string   `json:"msg"`
	Sig     string   `json:"sig"`
	// AEAD
	Key string `json:"key"`
	IV  string `json:"iv"`
	AAD string `json:"aad"`
	CT  string `json:"ct"`
	Tag string `json:"tag"`
	// HKDF
	IKM  string `json:"ikm"`
	Salt string `json:"salt"`
	Info string `json:"info"`
	Size int    `json:"size"`
	OKM  string `json:"okm"`
}

type wycheGroup struct {
	PublicKeyDer string `json:"publicKeyDer"`
	PublicKey    struct {
		PK string `json:"pk"`
	} `json:"publicKey"`
	IVSize int         `json:"ivSize"`
	Tests  []wycheTest `json:"tests"`
}

type wycheFile struct {
	Algorithm     string       `json:"algorithm"`
	NumberOfTests int          `json:"numberOfTests"`
	TestGroups    []wycheGroup `json:"testGroups"`
}

func loadWycheproof(t *testing.T, name string) wycheFile {
	t.Helper()
	data, err := os.ReadFile(testvectors.File(t, "wycheproof", name))
	if err != nil {
		t.Fatal(err)
	}
	var f wycheFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	n := 0
	for _, g := range f.TestGroups {
		n += len(g.Tests)
	}
	if n == 0 || n != f.NumberOfTests {
		t.Fatalf("%s: loaded %d cases, file declares %d", name, n, f.NumberOfTests)
	}
	return f
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in vector: %v", err)
	}
	return b
}

// highS decodes a signature independently of the code under test, to
// compute which "valid" cases Folio must reject for malleability.
func highS(t *testing.T, sig []byte, p1363 bool) bool {
	t.Helper()
	var s *big.Int
	if p1363 {
		s = new(big.Int).SetBytes(sig[32:])
	} else {
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(sig, &rs); err != nil {
			t.Fatalf("valid vector does not parse as DER: %v", err)
		}
		s = rs.S
	}
	return s.Cmp(p256Half) > 0
}

func runECDSAVectors(t *testing.T, file string, p1363 bool) {
	f := loadWycheproof(t, file)
	var accepted, rejectedHighS, rejectedInvalid, highSValid int
	for _, g := range f.TestGroups {
		pubAny, err := x509.ParsePKIXPublicKey(unhex(t, g.PublicKeyDer))
		if err != nil {
			t.Fatalf("%s: group key: %v", file, err)
		}
		pub := pubAny.(*ecdsa.PublicKey)
		for _, tc := range g.Tests {
			digest := sha256.Sum256(unhex(t, tc.Msg))
			sig := unhex(t, tc.Sig)
			var err error
			if p1363 {
				err = VerifyECDSAP1363Digest(pub, digest[:], sig)
			} else {
				err = VerifyECDSADigest(pub, digest[:], sig)
			}
			switch tc.Result {
			case "valid":
				if highS(t, sig, p1363) {
					highSValid++
					if !errors.Is(err, ErrHighS) {
						t.Errorf("%s tc %d (%s): high-S valid signature: got %v, want ErrHighS", file, tc.TcID, tc.Comment, err)
					}
					rejectedHighS++
				} else if err != nil {
					t.Errorf("%s tc %d (%s): valid low-S signature rejected: %v", file, tc.TcID, tc.Comment, err)
				} else {
					accepted++
				}
			case "invalid":
				if err == nil {
					t.Errorf("%s tc %d (%s) %v: invalid signature accepted", file, tc.TcID, tc.Comment, tc.Flags)
				} else {
					rejectedInvalid++
				}
			default:
				t.Errorf("%s tc %d: unexpected result %q", file, tc.TcID, tc.Result)
			}
		}
	}
	if highSValid == 0 || accepted == 0 || rejectedInvalid == 0 {
		t.Fatalf("%s: suspicious coverage: accepted %d, high-S %d, invalid rejected %d", file, accepted, highSValid, rejectedInvalid)
	}
	t.Logf("%s: %d valid accepted, %d valid high-S rejected on purpose, %d invalid rejected", file, accepted, rejectedHighS, rejectedInvalid)
}

func TestWycheproofECDSAP256DER(t *testing.T) {
	runECDSAVectors(t, "ecdsa_secp256r1_sha256_test.json", false)
}

func TestWycheproofECDSAP256P1363(t *testing.T) {
	runECDSAVectors(t, "ecdsa_secp256r1_sha256_p1363_test.json", true)
}

func TestWycheproofEd25519(t *testing.T) {
	f := loadWycheproof(t, "ed25519_test.json")
	for _, g := range f.TestGroups {
		pub := ed25519.PublicKey(unhex(t, g.PublicKey.PK))
		for _, tc := range g.Tests {
			err := VerifyEd25519(pub, unhex(t, tc.Msg), unhex(t, tc.Sig))
			if tc.Result == "valid" && err != nil {
				t.Errorf("tc %d (%s): valid rejected: %v", tc.TcID, tc.Comment, err)
			}
			if tc.Result == "invalid" && err == nil {
				t.Errorf("tc %d (%s) %v: invalid accepted", tc.TcID, tc.Comment, tc.Flags)
			}
		}
	}
}

func TestWycheproofAESGCM(t *testing.T) {
	f := loadWycheproof(t, "aes_gcm_test.json")
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			key, iv, aad := unhex(t, tc.Key), unhex(t, tc.IV), unhex(t, tc.AAD)
			msg, ct, tag := unhex(t, tc.Msg), unhex(t, tc.CT), unhex(t, tc.Tag)
			sealed := append(append([]byte{}, ct...), tag...)
			aead, err := NewGCM(key, len(iv))
			if tc.Result == "invalid" {
				if err != nil {
					continue // refused outright (zero-length IV)
				}
				if out, err := aead.Open(nil, iv, sealed, aad); err == nil {
					t.Errorf("tc %d (%s): invalid case opened to %x", tc.TcID, tc.Comment, out)
				}
				continue
			}
			if err != nil {
				t.Errorf("tc %d (%s): valid case refused: %v", tc.TcID, tc.Comment, err)
				continue
			}
			if got := aead.Seal(nil, iv, msg, aad); !bytes.Equal(got, sealed) {
				t.Errorf("tc %d (%s): seal = %x, want %x", tc.TcID, tc.Comment, got, sealed)
			}
			if got, err := aead.Open(nil, iv, sealed, aad); err != nil || !bytes.Equal(got, msg) {
				t.Errorf("tc %d (%s): open = %x, %v", tc.TcID, tc.Comment, got, err)
			}
		}
	}
}

func TestWycheproofHKDFSHA256(t *testing.T) {
	f := loadWycheproof(t, "hkdf_sha256_test.json")
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			okm, err := DeriveKey(unhex(t, tc.IKM), unhex(t, tc.Salt), string(unhex(t, tc.Info)), tc.Size)
			switch tc.Result {
			case "valid":
				if err != nil || !bytes.Equal(okm, unhex(t, tc.OKM)) {
					t.Errorf("tc %d (%s): okm %x, %v", tc.TcID, tc.Comment, okm, err)
				}
			case "invalid":
				if err == nil {
					t.Errorf("tc %d (%s): invalid size %d accepted", tc.TcID, tc.Comment, tc.Size)
				}
			}
		}
	}
}
