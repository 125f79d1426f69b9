package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/localnet"
)

// loadIdentity loads label from the network directory's wallet; a label
// that is malformed, or names an organisation or identity the network
// does not have, is a usage error listing what exists, with the nearest
// names first ("did you mean").
func (g *globals) loadIdentity(dir, label, flag string) (*client.Identity, error) {
	_, org, perr := wallet.ParseLabel(label)
	w := g.wallet(dir)
	if perr == nil {
		id, err := w.Load(label)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, wallet.ErrNotFound) {
			return nil, err
		}
	}
	known := walletLabels(w)
	n, nerr := localnet.Load(dir)
	if nerr != nil {
		n = &localnet.Network{}
	}
	if _, oerr := n.Org(org); perr == nil && nerr == nil && oerr != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s %s: no organisation %q in this network (organisations: %s)", flag, label, org, strings.Join(peerOrgs(n), ", ")),
			hint: didYouMean(label, known)}
	}
	what := "no such identity in the wallet"
	if perr != nil {
		what = "want name@Org, e.g. user1@Org1"
	}
	return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s %s: %s (%s)", flag, label, what, w.Dir()),
		hint: didYouMean(label, known) + "; enrol a new identity with `folio ca register` and `folio ca enroll`"}
}

// walletLabels lists the wallet's identities.
func walletLabels(w *wallet.Wallet) []string {
	entries, _ := w.List()
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Label())
	}
	return out
}

// peerOrgs lists the network's organisations that have peers.
func peerOrgs(n *localnet.Network) []string {
	var out []string
	for _, o := range n.Orgs {
		if len(n.PeersOf(o.Name)) > 0 {
			out = append(out, o.Name)
		}
	}
	return out
}

// didYouMean lists known, the names nearest to name first.
func didYouMean(name string, known []string) string {
	if len(known) == 0 {
		return "the wallet holds no identities"
	}
	ranked := append([]string(nil), known...)
	sort.SliceStable(ranked, func(i, j int) bool {
		return editDistance(strings.ToLower(name), strings.ToLower(ranked[i])) < editDistance(strings.ToLower(name), strings.ToLower(ranked[j]))
	})
	if len(ranked) > 8 {
		ranked = append(ranked[:8], "...")
	}
	if d := editDistance(strings.ToLower(name), strings.ToLower(ranked[0])); d <= 3 || strings.Contains(ranked[0], name) {
		return "did you mean " + ranked[0] + "? known: " + strings.Join(ranked, ", ")
	}
	return "known: " + strings.Join(ranked, ", ")
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
