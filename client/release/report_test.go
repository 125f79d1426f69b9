package release

import (
	"strings"
	"testing"
	"time"

	rc "github.com/folio-ledger/folio/contracts/release"
)

func TestSummarize(t *testing.T) {
	T := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return T.Add(d).Format(time.RFC3339Nano) }
	ms := time.Millisecond
	v := &rc.ReportView{
		Release: rc.Record{ID: "r", Work: "W", ReleaseAt: at(0), EndAt: at(10 * time.Second), Threshold: 2,
			KeyServers: []rc.KeyServer{{Name: "peer0.org1"}, {Name: "peer0.org2"}}},
		Shares: []rc.Published{{Index: 1, SentAt: at(2 * ms)}, {Index: 2, SentAt: at(5 * ms)}},
		Accesses: []rc.Access{
			{Client: "a", CiphertextCompleteAt: at(-time.Minute), KeyReceivedAt: at(20 * ms), AccessAt: at(21 * ms)},
			{Client: "b", CiphertextCompleteAt: at(-time.Second), KeyReceivedAt: at(60 * ms), AccessAt: at(61 * ms)},
			// Still downloading when the key went out (5 ms): its key came
			// behind its data; not in the spread, and it missed E.
			{Client: "late", CiphertextCompleteAt: at(11 * time.Second), KeyReceivedAt: at(11*time.Second + ms), AccessAt: at(11*time.Second + ms)},
			{Client: "e", EdgeDecrypt: true, AccessAt: at(100 * ms)},
			{Client: "greedy", Error: "too early"},
		},
	}
	r := Summarize(v)
	if !r.Opened || r.SpreadMS != 40 || r.EarlyAccess != 0 || r.MissedEnd != 2 || r.SharesBeforeT != 0 {
		t.Fatalf("%+v", r)
	}
	// Edge client vs the key clients' median (61 ms of 21, 61, the upper
	// median): 39 ms.
	if r.EdgeVsKeyMS != 39 {
		t.Fatalf("edge vs key %v", r.EdgeVsKeyMS)
	}
	// Nobody opened: the reason names the errors and the missing shares.
	v.Shares = v.Shares[:1]
	v.Accesses = []rc.Access{{Client: "k3", Error: "1 of 2 shares: peer0.org2 unreachable"}}
	r = Summarize(v)
	if r.Opened || !strings.Contains(r.Reason, "peer0.org2 unreachable") || !strings.Contains(r.Reason, "1 of 2 needed shares published on chain") {
		t.Fatalf("not opened: %+v", r)
	}
	// A share stated before T is counted.
	v.Shares = []rc.Published{{Index: 1, SentAt: at(-ms)}}
	if r := Summarize(v); r.SharesBeforeT != 1 {
		t.Fatalf("shares before T: %d", r.SharesBeforeT)
	}
}
