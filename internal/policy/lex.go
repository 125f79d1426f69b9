package policy

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokLParen
	tokRParen
	tokComma
)

func (k tokKind) String() string {
	return [...]string{"end of policy", "name", "quoted string", "number", "'('", "')'", "','"}[k]
}

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	if t.kind == tokIdent || t.kind == tokNumber {
		return fmt.Sprintf("%s %q", t.kind, t.text)
	}
	if t.kind == tokString {
		return fmt.Sprintf("%s '%s'", t.kind, t.text)
	}
	return t.kind.String()
}

// lex splits a policy into tokens. Strings are single-quoted; a backslash
// escapes the next character inside them.
func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tokComma, ",", i})
			i++
		case c == '\'':
			start := i
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated string starting at offset %d", start)
				}
				if s[i] == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '\'' {
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			toks = append(toks, token{tokString, b.String(), start})
		case c == '-' || (c >= '0' && c <= '9'):
			start := i
			i++
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			toks = append(toks, token{tokNumber, s[start:i], start})
		case isIdent(c):
			start := i
			for i < len(s) && isIdent(s[i]) {
				i++
			}
			toks = append(toks, token{tokIdent, s[start:i], start})
		default:
			return nil, fmt.Errorf("unexpected character %q at offset %d (principals are single-quoted)", c, i)
		}
	}
	return append(toks, token{tokEOF, "", len(s)}), nil
}

func isIdent(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}
