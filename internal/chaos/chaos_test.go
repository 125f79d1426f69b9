package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/localnet"
)

func TestSameHeight(t *testing.T) {
	up := func(name, role string, h uint64) localnet.NodeStatus {
		return localnet.NodeStatus{Name: name, Role: role, State: localnet.StateUp, Height: h}
	}
	ca := localnet.NodeStatus{Name: "ca.org1", Role: "ca", State: localnet.StateDown}
	if h, why := sameHeight([]localnet.NodeStatus{up("peer0", "peer", 9), up("orderer0", "orderer", 9), ca}); why != "" || h != 9 {
		t.Fatalf("one height: %d %q (a CA's state does not count)", h, why)
	}
	_, why := sameHeight([]localnet.NodeStatus{up("peer0", "peer", 9), up("peer1", "peer", 8), up("orderer0", "orderer", 9)})
	if !strings.Contains(why, "8: peer1") || !strings.Contains(why, "9: orderer0 peer0") {
		t.Fatalf("differing heights: %q", why)
	}
	down := up("peer1", "peer", 9)
	down.State = localnet.StateDown
	if _, why := sameHeight([]localnet.NodeStatus{up("peer0", "peer", 9), down}); !strings.Contains(why, "not up: peer1 down") {
		t.Fatalf("a node down: %q", why)
	}
}

func TestPercentiles(t *testing.T) {
	if p50, mx := percentiles(nil); p50 != 0 || mx != 0 {
		t.Fatalf("empty: %d %d", p50, mx)
	}
	ds := []time.Duration{900 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, 200 * time.Millisecond}
	if p50, mx := percentiles(ds); p50 != 200 || mx != 900 {
		t.Fatalf("p50 %d max %d, want 200 and 900", p50, mx)
	}
	if ds[0] != 900*time.Millisecond {
		t.Fatal("percentiles sorted its argument")
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Out: t.TempDir()},
		{Exe: "folio"},
		{Exe: "folio", Out: t.TempDir(), Duration: 5 * time.Second},
	} {
		if _, err := Run(t.Context(), o); err == nil {
			t.Errorf("Run(%+v) = nil error", o)
		}
	}
}
