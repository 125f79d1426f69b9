package enclavebench

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contracts/copyright"
)

// Namespace is the copyright contract's namespace.
const Namespace = "copyright"

// workID is the ID of work i.
func workID(i int) string { return fmt.Sprintf("W%08d", i) }

// workKey is the state key of work i (the contract's composite key).
func workKey(i int) string {
	k, _ := contract.CreateCompositeKey("work", workID(i))
	return k
}

var registeredAt = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339Nano)

// workRecord is the stored record of work i, as register would write it.
func workRecord(i int) []byte {
	owner := fmt.Sprintf("user%d@Org1", i%1000)
	rec := copyright.Record{
		ID:           workID(i),
		Title:        fmt.Sprintf("Collected works, volume %d", i),
		Author:       fmt.Sprintf("Author %d", i%50000),
		Owner:        owner,
		Type:         "text",
		ContentHash:  fmt.Sprintf("sha256:%064x", uint64(i)*0x9e3779b97f4a7c15),
		RegisteredAt: registeredAt,
		RegisteredBy: owner,
		Action:       copyright.ActionRegister,
		UpdatedBy:    owner,
		UpdatedAt:    registeredAt,
	}
	b, _ := json.Marshal(rec)
	return b
}
