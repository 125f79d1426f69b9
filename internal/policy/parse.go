package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/folio-ledger/folio/internal/identity"
)

// ErrSyntax marks a policy string that does not parse.
var ErrSyntax = errors.New("invalid policy")

// Rule is a node of a compiled policy: either a gate (OutOf with its
// sub-rules) or a leaf (SignedBy a principal).
type Rule struct {
	// OutOf is the gate's threshold: at least OutOf of Rules must hold.
	OutOf int
	Rules []*Rule
	// SignedBy is set on leaves.
	SignedBy *identity.Principal
}

// Policy is a compiled signature policy.
type Policy struct {
	Rule *Rule
	src  string
}

// Source is the text the policy was parsed from.
func (p *Policy) Source() string { return p.src }

// String renders the rule canonically, e.g. OutOf(2, 'A.member', 'B.member').
func (p *Policy) String() string { return p.Rule.String() }

func (r *Rule) String() string {
	if r.SignedBy != nil {
		return r.SignedBy.String()
	}
	parts := make([]string, len(r.Rules))
	for i, sub := range r.Rules {
		parts[i] = sub.String()
	}
	return fmt.Sprintf("OutOf(%d, %s)", r.OutOf, strings.Join(parts, ", "))
}

// Principals lists every principal the policy names, in order, with repeats.
func (p *Policy) Principals() []identity.Principal {
	var out []identity.Principal
	var walk func(*Rule)
	walk = func(r *Rule) {
		if r.SignedBy != nil {
			out = append(out, *r.SignedBy)
		}
		for _, s := range r.Rules {
			walk(s)
		}
	}
	walk(p.Rule)
	return out
}

// MaxLength bounds a policy string; real policies are far shorter.
const MaxLength = 64 << 10

// maxDepth bounds gate nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

// Parse compiles a policy string. The top level must be one gate: AND/And,
// OR/Or/and/or, or OutOf/OUTOF/outof.
func Parse(s string) (*Policy, error) {
	if len(s) > MaxLength {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrSyntax, len(s), MaxLength)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrSyntax, s, err)
	}
	p := &parser{toks: toks}
	if p.peek().kind != tokIdent {
		return nil, fmt.Errorf("%w %q: must be one gate such as AND(...), OR(...) or OutOf(n, ...)", ErrSyntax, s)
	}
	r, err := p.gate(0)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrSyntax, s, err)
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("%w %q: unexpected %s after the policy at offset %d", ErrSyntax, s, t, t.pos)
	}
	return &Policy{Rule: r, src: s}, nil
}

// MustParse parses a policy known to be valid at compile time (defaults in code).
func MustParse(s string) *Policy {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) expect(k tokKind) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, fmt.Errorf("expected %s, found %s at offset %d", k, t, t.pos)
	}
	return t, nil
}

func (p *parser) gate(depth int) (*Rule, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("gates nested deeper than %d", maxDepth)
	}
	name := p.next()
	var kind string
	switch name.text {
	case "AND", "And", "and":
		kind = "and"
	case "OR", "Or", "or":
		kind = "or"
	case "OutOf", "OUTOF", "outof":
		kind = "outof"
	default:
		return nil, fmt.Errorf("unknown gate %q at offset %d (want AND, OR or OutOf)", name.text, name.pos)
	}
	if _, err := p.expect(tokLParen); err != nil {
		return nil, err
	}
	threshold := -1
	if kind == "outof" {
		t := p.next()
		n, err := thresholdOf(t)
		if err != nil {
			return nil, err
		}
		threshold = n
		if p.peek().kind != tokComma {
			return nil, fmt.Errorf("%s needs a threshold and at least one operand", name.text)
		}
		p.next()
	}
	var rules []*Rule
	for {
		t := p.peek()
		switch t.kind {
		case tokString:
			p.next()
			pr, err := identity.ParsePrincipal("'" + t.text + "'")
			if err != nil {
				return nil, fmt.Errorf("operand %q at offset %d is not a principal 'MSPID.role': %v", t.text, t.pos, err)
			}
			rules = append(rules, &Rule{SignedBy: &pr})
		case tokIdent:
			sub, err := p.gate(depth + 1)
			if err != nil {
				return nil, err
			}
			rules = append(rules, sub)
		case tokRParen:
			if len(rules) == 0 {
				return nil, fmt.Errorf("%s at offset %d has no operands", name.text, name.pos)
			}
		default:
			return nil, fmt.Errorf("unexpected %s at offset %d: want a principal or a gate", t, t.pos)
		}
		if p.peek().kind == tokRParen {
			p.next()
			break
		}
		if _, err := p.expect(tokComma); err != nil {
			return nil, err
		}
		if p.peek().kind == tokRParen {
			return nil, fmt.Errorf("trailing comma before ')' at offset %d", p.peek().pos)
		}
	}
	n := len(rules)
	switch kind {
	case "and":
		threshold = n
	case "or":
		threshold = 1
	}
	if threshold < 0 || threshold > n+1 {
		return nil, fmt.Errorf("OutOf(%d, ...) with %d operands: the threshold must be 0 to %d", threshold, n, n+1)
	}
	return &Rule{OutOf: threshold, Rules: rules}, nil
}

// thresholdOf accepts an integer, or an integer in quotes as Fabric does.
func thresholdOf(t token) (int, error) {
	switch t.kind {
	case tokNumber, tokString:
		n, err := strconv.Atoi(t.text)
		if err != nil {
			return 0, fmt.Errorf("threshold %q at offset %d is not an integer", t.text, t.pos)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("expected a threshold number, found %s at offset %d", t, t.pos)
	}
}
