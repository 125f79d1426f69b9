package contracttest_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contract/contracttest"
)

// TestContextSemantics checks the rules contracttest shares with the VM.
func TestContextSemantics(t *testing.T) {
	l := contracttest.NewLedger("ns")
	l.Put("a", []byte("1"))
	l.Put("b", []byte("2"))
	ck, _ := contract.CreateCompositeKey("t", "x")
	l.Put(ck, []byte("c"))

	ctx := l.NewContext(contracttest.Call{Function: "f", Creator: contract.Identity{Name: "u", Org: "O"}})
	v, ver, err := ctx.GetStateVersion("a")
	if string(v) != "1" || ver == nil || ver.Block != 1 || err != nil {
		t.Fatalf("get a: %q %v %v", v, ver, err)
	}
	must(t, ctx.PutState("a", []byte("10")))
	if v, ver, _ := ctx.GetStateVersion("a"); string(v) != "10" || ver != nil {
		t.Fatalf("own write: %q %v", v, ver)
	}
	must(t, ctx.PutState("n", []byte("5")))
	must(t, ctx.DelState("n"))
	if v, _ := ctx.GetState("n"); v != nil {
		t.Fatal("deleted key visible")
	}
	var keys []string
	for kv, err := range ctx.GetStateRange("", "") {
		must(t, err)
		keys = append(keys, kv.Key+"="+string(kv.Value))
	}
	if !reflect.DeepEqual(keys, []string{"a=1", "b=2"}) {
		t.Fatalf("range sees committed simple keys only: %v", keys)
	}
	keys = nil
	for kv, err := range ctx.GetStateByPartialCompositeKey("t") {
		must(t, err)
		keys = append(keys, kv.Key)
	}
	if !reflect.DeepEqual(keys, []string{ck}) {
		t.Fatalf("partial key scan %q", keys)
	}
	h, err := ctx.GetHistoryForKey("a")
	if err != nil || len(h) != 1 || string(h[0].Value) != "1" {
		t.Fatalf("history %+v %v", h, err)
	}
	if err := ctx.PutState("", nil); !errors.Is(err, contract.ErrInvalidKey) {
		t.Fatal(err)
	}
	if err := ctx.SetEvent("", nil); !errors.Is(err, contract.ErrInvalidArgument) {
		t.Fatal(err)
	}
	res := ctx.Result()
	if len(res.Reads) != 1 || res.Reads[0].Key != "a" || len(res.Writes) != 2 || !res.Writes[1].IsDelete {
		t.Fatalf("result %+v", res)
	}
	if got, _, _ := l.Get("a"); string(got) != "1" {
		t.Fatal("context committed")
	}

	ro := l.NewContext(contracttest.Call{Function: "f", ReadOnly: true})
	for _, err := range []error{ro.PutState("a", nil), ro.DelState("a"), ro.SetEvent("e", nil)} {
		if !errors.Is(err, contract.ErrReadOnly) {
			t.Errorf("read-only: %v", err)
		}
	}
	if ro.TxID() == ctx.TxID() || !ro.Timestamp().After(ctx.Timestamp()) || ro.ChannelID() != "testchannel" || ro.Namespace() != "ns" {
		t.Error("defaults")
	}
	ro.Logf("hello %d", 1)
	if !reflect.DeepEqual(ro.Logs(), []string{"hello 1"}) {
		t.Error(ro.Logs())
	}
}

func TestInvokeCommitsOnlySuccess(t *testing.T) {
	r := contract.NewRouter()
	r.Handle("put", func(ctx contract.Context) contract.Response {
		if err := ctx.PutState(string(ctx.Args()[0]), []byte("v")); err != nil {
			return contract.Fail(err)
		}
		if len(ctx.Args()) > 1 {
			return contract.Fail(contract.BadRequest("", "%s", ctx.Args()[1]))
		}
		return contract.OK(nil)
	})
	r.Handle("big", func(ctx contract.Context) contract.Response {
		return contract.OK(make([]byte, contracttest.MaxValueBytes+1))
	})
	l := contracttest.NewLedger("ns")
	if res := l.Invoke(r, contracttest.Call{Function: "put", Args: contracttest.Args("k")}); res.Block != 1 || l.Height() != 1 {
		t.Fatalf("commit: %+v", res)
	}
	if res := l.Invoke(r, contracttest.Call{Function: "put", Args: contracttest.Args("k2", "no")}); res.Block != 0 || res.Response.Status != 400 {
		t.Fatalf("failed call: %+v", res)
	}
	if res := l.Invoke(r, contracttest.Call{Function: "put", Args: contracttest.Args("k3"), ReadOnly: true}); res.Block != 0 {
		t.Fatalf("read-only call committed: %+v", res)
	}
	if res := l.Invoke(r, contracttest.Call{Function: "put", Args: contracttest.Args("k4"), Namespace: "other"}); res.Block != 0 || res.Response.Status != 400 {
		t.Fatalf("call for another namespace: %+v", res)
	}
	if res := l.Invoke(r, contracttest.Call{Function: "put", Args: contracttest.Args("k5"), Namespace: "ns"}); res.Block != 2 {
		t.Fatalf("call naming the ledger's namespace: %+v", res)
	}
	if got := l.Keys(); !reflect.DeepEqual(got, []string{"k", "k5"}) {
		t.Fatal(got)
	}
	if res := l.Invoke(r, contracttest.Call{Function: "big"}); res.Response.Status != 500 || !strings.Contains(res.Response.Message, "too large") {
		t.Fatal(res.Response.Message)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCommitNotBefore checks the contracttest model of the time assertion:
// the latest valid time wins, bad times are refused with
// ErrInvalidArgument, and a call is committed only in a block stamped at
// or after the time (Invoke stamps the block with the call's timestamp,
// InvokeAt with the time it is given).
func TestCommitNotBefore(t *testing.T) {
	T := time.Date(2026, 5, 1, 13, 0, 0, 0, time.UTC)
	r := contract.NewRouter()
	r.Handle("gate", func(ctx contract.Context) contract.Response {
		// "not before T" as a contract would write it: checked against
		// the proposal timestamp at endorsement, asserted for commit.
		if ctx.Timestamp().Before(T) {
			return contract.Fail(contract.Forbidden("too early"))
		}
		if err := errors.Join(ctx.CommitNotBefore(T.Add(-time.Hour)), ctx.CommitNotBefore(T), ctx.CommitNotBefore(T.Add(-time.Minute))); err != nil {
			return contract.Fail(err)
		}
		if err := ctx.PutState("opened", []byte("yes")); err != nil {
			return contract.Fail(err)
		}
		return contract.OK(nil)
	})
	l := contracttest.NewLedger("ns")

	// The client claims T while the block is cut a minute earlier: the
	// contract accepts (as endorsers did before), the commit is refused.
	res := l.InvokeAt(r, contracttest.Call{Function: "gate", Timestamp: T}, T.Add(-time.Minute))
	if res.Response.Status != 200 || !res.NotBefore.Equal(T) || !res.TooEarly || res.Block != 0 {
		t.Fatalf("early block: %+v", res)
	}
	if _, _, ok := l.Get("opened"); ok || l.Height() != 0 {
		t.Fatal("a too-early call was committed")
	}
	// At T exactly it commits, and Invoke's block time is the call's.
	if res := l.InvokeAt(r, contracttest.Call{Function: "gate", Timestamp: T}, T); res.TooEarly || res.Block != 1 {
		t.Fatalf("block at T: %+v", res)
	}
	if res := l.Invoke(r, contracttest.Call{Function: "gate", Timestamp: T.Add(time.Second)}); res.TooEarly || res.Block != 2 {
		t.Fatalf("invoke after T: %+v", res)
	}
	// A call without the assertion is unaffected by the block time.
	r.Handle("plain", func(ctx contract.Context) contract.Response {
		if err := ctx.PutState("p", []byte("1")); err != nil {
			return contract.Fail(err)
		}
		return contract.OK(nil)
	})
	if res := l.InvokeAt(r, contracttest.Call{Function: "plain"}, time.Unix(1, 0)); !res.NotBefore.IsZero() || res.TooEarly || res.Block != 3 {
		t.Fatalf("plain call: %+v", res)
	}

	ctx := l.NewContext(contracttest.Call{Function: "f"})
	for _, bad := range []time.Time{{}, time.Unix(0, 0), time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if err := ctx.CommitNotBefore(bad); !errors.Is(err, contract.ErrInvalidArgument) {
			t.Errorf("CommitNotBefore(%v): %v", bad, err)
		}
	}
	if got := ctx.Result().NotBefore; !got.IsZero() {
		t.Errorf("refused times recorded: %v", got)
	}
}
