// Package licence is an example Folio contract: a register of licences
// granted on works. The licensor (the caller who grants) may revoke; anyone
// in the consortium may read a licence or list the licences of a work.
//
// It uses only the public contract SDK (github.com/folio-ledger/folio/contract)
// and runs unchanged natively (contracttest) and in the enclave's wasm VM.
package licence

import (
	"encoding/json"

	"github.com/folio-ledger/folio/contract"
)

// Function names.
const (
	FnGrant  = "grant"
	FnGet    = "get"
	FnRevoke = "revoke"
	FnByWork = "by_work"
)

// Composite key object types: the licence itself, and an index of
// licences by work.
const (
	objLicence = "licence"
	objByWork  = "work~licence"
)

// MaxListed bounds by_work's answer.
const MaxListed = 1000

// Licence is the stored record.
type Licence struct {
	ID        string `json:"id"`
	Work      string `json:"work"`
	Licensor  string `json:"licensor"`
	Licensee  string `json:"licensee"`
	Territory string `json:"territory"`
	// Until is the last day of the licence, YYYY-MM-DD.
	Until string `json:"until"`
	// GrantedAt is the transaction timestamp of the grant (RFC 3339).
	GrantedAt string `json:"granted_at"`
	Revoked   bool   `json:"revoked"`
}

// GrantArgs is grant's argument.
type GrantArgs struct {
	ID        string `json:"id"`
	Work      string `json:"work"`
	Licensee  string `json:"licensee"`
	Territory string `json:"territory"`
	Until     string `json:"until"`
}

// IDArgs is the argument of get and revoke.
type IDArgs struct {
	ID string `json:"id"`
}

// WorkArgs is by_work's argument.
type WorkArgs struct {
	Work string `json:"work"`
}

// New returns the contract's router.
func New() *contract.Router {
	r := contract.NewRouter()
	r.Handle(FnGrant, grant)
	r.Handle(FnGet, get)
	r.Handle(FnRevoke, revoke)
	r.Handle(FnByWork, byWork)
	return r
}

func grant(ctx contract.Context) contract.Response {
	var a GrantArgs
	if err := contract.BindJSON(ctx, &a); err != nil {
		return contract.Fail(err)
	}
	// A slice, not a map: map order must not influence a contract's answer.
	for _, f := range []struct{ name, value string }{{"id", a.ID}, {"work", a.Work}, {"licensee", a.Licensee}, {"territory", a.Territory}} {
		if f.value == "" {
			return contract.Fail(contract.BadRequest(f.name, "%s is required", f.name))
		}
	}
	if !validDay(a.Until) {
		return contract.Fail(contract.BadRequest("until", "until %q is not a date YYYY-MM-DD", a.Until))
	}
	key, err := contract.CreateCompositeKey(objLicence, a.ID)
	if err != nil {
		return contract.Fail(contract.BadRequest("id", "%v", err))
	}
	old, err := ctx.GetState(key)
	if err != nil {
		return contract.Fail(err)
	}
	if old != nil {
		return contract.Fail(contract.Conflict("licence %s already exists", a.ID))
	}
	l := Licence{ID: a.ID, Work: a.Work, Licensor: ctx.Creator().Label(), Licensee: a.Licensee, Territory: a.Territory,
		Until: a.Until, GrantedAt: ctx.Timestamp().UTC().Format("2006-01-02T15:04:05Z")}
	if err := put(ctx, key, l); err != nil {
		return contract.Fail(err)
	}
	idx, err := contract.CreateCompositeKey(objByWork, a.Work, a.ID)
	if err != nil {
		return contract.Fail(contract.BadRequest("work", "%v", err))
	}
	if err := ctx.PutState(idx, []byte{0}); err != nil {
		return contract.Fail(err)
	}
	return contract.JSON(l)
}

func get(ctx contract.Context) contract.Response {
	l, err := loadArg(ctx)
	if err != nil {
		return contract.Fail(err)
	}
	return contract.JSON(l)
}

func revoke(ctx contract.Context) contract.Response {
	l, err := loadArg(ctx)
	if err != nil {
		return contract.Fail(err)
	}
	if caller := ctx.Creator().Label(); caller != l.Licensor {
		return contract.Fail(contract.Forbidden("only the licensor %s may revoke licence %s, not %s", l.Licensor, l.ID, caller))
	}
	if l.Revoked {
		return contract.Fail(contract.Conflict("licence %s is already revoked", l.ID))
	}
	l.Revoked = true
	key, _ := contract.CreateCompositeKey(objLicence, l.ID) // the ID was accepted when granted
	if err := put(ctx, key, l); err != nil {
		return contract.Fail(err)
	}
	return contract.JSON(l)
}

func byWork(ctx contract.Context) contract.Response {
	var a WorkArgs
	if err := contract.BindJSON(ctx, &a); err != nil {
		return contract.Fail(err)
	}
	if a.Work == "" {
		return contract.Fail(contract.BadRequest("work", "work is required"))
	}
	out := []Licence{}
	for kv, err := range ctx.GetStateByPartialCompositeKey(objByWork, a.Work) {
		if err != nil {
			return contract.Fail(err)
		}
		_, attrs, err := contract.SplitCompositeKey(kv.Key)
		if err != nil || len(attrs) != 2 {
			return contract.Fail(contract.Internal("malformed index key %q", kv.Key))
		}
		l, err := load(ctx, attrs[1])
		if err != nil {
			return contract.Fail(err)
		}
		out = append(out, l)
		if len(out) == MaxListed {
			break
		}
	}
	return contract.JSON(out)
}

// loadArg loads the licence the call's IDArgs names.
func loadArg(ctx contract.Context) (Licence, error) {
	var a IDArgs
	if err := contract.BindJSON(ctx, &a); err != nil {
		return Licence{}, err
	}
	return load(ctx, a.ID)
}

func load(ctx contract.Context, id string) (Licence, error) {
	key, err := contract.CreateCompositeKey(objLicence, id)
	if err != nil {
		return Licence{}, contract.BadRequest("id", "%v", err)
	}
	b, err := ctx.GetState(key)
	if err != nil {
		return Licence{}, err
	}
	if b == nil {
		return Licence{}, contract.NotFound("no licence %s", id)
	}
	var l Licence
	if err := contract.DecodeJSON(b, &l); err != nil {
		return Licence{}, contract.Internal("stored licence %s: %v", id, err)
	}
	return l, nil
}

func put(ctx contract.Context, key string, l Licence) error {
	b, err := json.Marshal(l)
	if err != nil {
		return contract.Internal("encode licence: %v", err)
	}
	return ctx.PutState(key, b)
}

// validDay reports whether s is YYYY-MM-DD with plausible digits. The
// contract parses no time zone or clock: it only compares and stores.
func validDay(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i, c := range s {
		if i == 4 || i == 7 {
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	month, day := (s[5]-'0')*10+s[6]-'0', (s[8]-'0')*10+s[9]-'0'
	return month >= 1 && month <= 12 && day >= 1 && day <= 31
}
