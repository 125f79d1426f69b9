package history

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRecorderAndRoundTrip: concurrent Begin/End give distinct IDs and
// ordered times, and a written history reads back equal.
func TestRecorderAndRoundTrip(t *testing.T) {
	rec := NewRecorder(time.Now())
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				op := rec.Begin(Op{Client: c, Kind: Get, Work: "w"})
				op.Outcome, op.Found, op.Read, op.ReadHeight = OK, true, "alice@Org1", 7
				rec.End(op)
			}
		}()
	}
	wg.Wait()
	ops := rec.Ops()
	if len(ops) != 400 {
		t.Fatalf("%d ops, want 400", len(ops))
	}
	ids := map[int64]bool{}
	for i, op := range ops {
		if ids[op.ID] {
			t.Fatalf("op ID %d twice", op.ID)
		}
		ids[op.ID] = true
		if op.Return < op.Invoke || (i > 0 && op.Invoke < ops[i-1].Invoke) {
			t.Fatalf("op %d: times out of order: %+v", i, op)
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, ops); err != nil {
		t.Fatal(err)
	}
	back, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(ops) || back[17] != ops[17] {
		t.Fatalf("read back %d ops; op 17 %+v, want %+v", len(back), back[17], ops[17])
	}
}

// TestReadRefusesBadLines names the line that does not decode.
func TestReadRefusesBadLines(t *testing.T) {
	_, err := Read(strings.NewReader(`{"id":1,"kind":"get"}` + "\n\n" + `{"id":2,` + "\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("error %v, want one naming line 3", err)
	}
	long := `{"work":"` + strings.Repeat("x", MaxLine) + `"}`
	if _, err := Read(strings.NewReader(long)); err == nil {
		t.Fatal("a line over MaxLine was read")
	}
}
