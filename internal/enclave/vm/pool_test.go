package vm_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

// TestPoolBoundsInstances checks that concurrent calls beyond PoolSize wait
// for a pooled instance instead of instantiating new ones (each costs a Go
// runtime initialisation), and that every call still succeeds.
func TestPoolBoundsInstances(t *testing.T) {
	const pool, callers, perCaller = 2, 16, 5
	rt, m := loadMisbehave(t, vm.Options{PoolSize: pool})
	st := vmtest.NewMemState()
	st.Put("misbehave", "a", []byte("1"), 1, 0)
	var wg sync.WaitGroup
	errs := make(chan error, callers*perCaller)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perCaller {
				c := call("script", "get a", "put b 2")
				c.TxID = fmt.Sprintf("tx-%d-%d", i, j)
				res, err := rt.Invoke(context.Background(), m, c, st)
				if err == nil && res.Response.Status != 200 {
					err = fmt.Errorf("status %d: %s", res.Response.Status, res.Response.Message)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := rt.Stats()
	if s.Instantiations > pool {
		t.Fatalf("%d instantiations for %d concurrent callers with PoolSize %d: calls beyond the pool must wait, not instantiate", s.Instantiations, callers, pool)
	}
	if want := uint64(callers*perCaller) - s.Instantiations; s.PoolHits < want-1 {
		t.Fatalf("pool hits %d, want at least %d", s.PoolHits, want-1)
	}
}
