package copyright_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contract/contracttest"
	"github.com/folio-ledger/folio/contracts/copyright"
)

// FuzzContract feeds arbitrary arguments to every function (natively, on a
// ledger holding one work): the contract must never panic, must answer a
// status it documents with a structured error payload, and must write
// nothing unless it answers 200.
func FuzzContract(f *testing.F) {
	f.Add(uint8(0), []byte(`{"id":"W2","title":"T","author":"A","content_hash":"`+hashA+`"}`))
	f.Add(uint8(0), []byte(`{"id":"W1","title":"T","author":"A","type":"poem","owner":"x@y","content_hash":"`+hashA+`"}`))
	f.Add(uint8(1), []byte(`{"id":"W1","to":"bob@Org1"}`))
	f.Add(uint8(2), []byte(`{"id":"W1"}`))
	f.Add(uint8(3), []byte(`{"id":"W1"}`))
	f.Add(uint8(4), []byte(`{"owner":"alice@Org1","author":"Ada","limit":1}`))
	f.Add(uint8(4), []byte(`{"id":`))
	f.Add(uint8(0), []byte(`{"id":"W3","title":"T","author":"A","content_hash":"`+hashOf("W1")+`","relation":"derivative-of:W1"}`))
	f.Add(uint8(0), []byte(`{"id":"W3","title":"T","author":"A","content_hash":"`+hashOf("W1")+`","allow_duplicate":true}`))
	f.Add(uint8(1), []byte(`{"id":"W1","to":"nobody@Nowhere"}`))
	f.Add(uint8(4), []byte(`{"hash":"`+hashOf("W1")+`"}`))
	fns := []string{copyright.FnRegister, copyright.FnTransfer, copyright.FnGet, copyright.FnHistory, copyright.FnList}
	r := copyright.New()
	f.Fuzz(func(t *testing.T, fn uint8, arg []byte) {
		l := contracttest.NewLedger("copyright")
		l.SetChannelOrgs("Org1", "Org2")
		seed := l.Invoke(r, contracttest.Call{Function: copyright.FnRegister, Creator: alice, Args: jsonArgs(work("W1", "Ada"))})
		if seed.Response.Status != 200 {
			t.Fatal(seed.Response.Message)
		}
		name := fns[int(fn)%len(fns)]
		res := l.Simulate(r, contracttest.Call{Function: name, Creator: alice, Args: [][]byte{arg}})
		if res.Panicked {
			t.Fatalf("%s(%q) panicked: %s", name, arg, res.Response.Message)
		}
		if !utf8.ValidString(res.Response.Message) {
			t.Fatalf("message is not UTF-8: %q", res.Response.Message)
		}
		switch res.Response.Status {
		case 200:
			if !json.Valid(res.Response.Payload) {
				t.Fatalf("payload is not JSON: %q", res.Response.Payload)
			}
		case 400, 403, 404, 409:
			var e contract.Error
			if err := json.Unmarshal(res.Response.Payload, &e); err != nil || e.Message == "" || e.Code == "" {
				t.Fatalf("error payload %q: %v", res.Response.Payload, err)
			}
			if len(res.Writes) != 0 || len(res.Events) != 0 {
				t.Fatalf("%d response wrote %v", res.Response.Status, res.Writes)
			}
		default:
			t.Fatalf("%s(%q) answered %d %s", name, arg, res.Response.Status, res.Response.Message)
		}
	})
}
