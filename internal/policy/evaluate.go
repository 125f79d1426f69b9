package policy

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/folio-ledger/folio/internal/identity"
)

// UnsatisfiedError says which clause of a policy the signers did not meet.
type UnsatisfiedError struct {
	Policy string
	// Missing lists, for the outermost failing gate, what was not satisfied.
	Missing []string
	Signers []string
}

func (e *UnsatisfiedError) Error() string {
	signers := "no signers"
	if len(e.Signers) > 0 {
		signers = "signers " + strings.Join(e.Signers, ", ")
	}
	return fmt.Sprintf("endorsement policy %s not satisfied by %s: missing %s", e.Policy, signers, strings.Join(e.Missing, "; "))
}

// Evaluate reports whether the signers (identities already validated by the
// MSP, signatures already checked) satisfy the policy. It follows Fabric:
// duplicate signers (same certificate) count once, each signer satisfies at
// most one principal, and each gate tries its operands left to right,
// keeping a sub-rule's use of signers only when that sub-rule holds.
// A nil result means satisfied; otherwise an *UnsatisfiedError.
func (p *Policy) Evaluate(signers []*identity.Identity) error {
	ids := dedupe(signers)
	used := make([]bool, len(ids))
	if eval(p.Rule, ids, used) {
		return nil
	}
	labels := make([]string, len(ids))
	for i, id := range ids {
		labels[i] = fmt.Sprintf("%s (%s)", id.Label(), id.MSPID)
	}
	return &UnsatisfiedError{Policy: p.String(), Missing: missing(p.Rule, ids), Signers: labels}
}

func eval(r *Rule, ids []*identity.Identity, used []bool) bool {
	if r.SignedBy != nil {
		for i, id := range ids {
			if !used[i] && r.SignedBy.SatisfiedBy(id) {
				used[i] = true
				return true
			}
		}
		return false
	}
	verified := 0
	trial := make([]bool, len(used))
	for _, sub := range r.Rules {
		copy(trial, used)
		if eval(sub, ids, trial) {
			verified++
			copy(used, trial)
		}
	}
	return verified >= r.OutOf
}

// missing explains a failed rule: the sub-rules that did not hold.
func missing(r *Rule, ids []*identity.Identity) []string {
	used := make([]bool, len(ids))
	var out []string
	if r.SignedBy != nil {
		return []string{r.SignedBy.String()}
	}
	held := 0
	trial := make([]bool, len(used))
	for _, sub := range r.Rules {
		copy(trial, used)
		if eval(sub, ids, trial) {
			held++
			copy(used, trial)
		} else {
			out = append(out, sub.String())
		}
	}
	return []string{fmt.Sprintf("%d of the required %d (%s)", r.OutOf-held, r.OutOf, strings.Join(out, ", "))}
}

func dedupe(ids []*identity.Identity) []*identity.Identity {
	out := make([]*identity.Identity, 0, len(ids))
	for _, id := range ids {
		dup := false
		for _, o := range out {
			if bytes.Equal(o.Cert.Raw, id.Cert.Raw) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, id)
		}
	}
	return out
}
