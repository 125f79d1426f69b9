package identity

import (
	"fmt"
	"regexp"
	"strings"
)

// Principal is a rule an identity can satisfy: an MSP ID and a role, written
// 'Org1MSP.member' as in Fabric policies.
type Principal struct {
	MSPID string
	Role  Role
}

var mspIDPattern = regexp.MustCompile(`^[A-Za-z0-9.-]+$`)

// ParsePrincipal parses 'MSPID.role', with or without the single quotes. The
// role is the text after the last dot, so MSP IDs may contain dots.
func ParsePrincipal(s string) (Principal, error) {
	body := s
	if len(body) >= 2 && body[0] == '\'' && body[len(body)-1] == '\'' {
		body = body[1 : len(body)-1]
	}
	dot := strings.LastIndexByte(body, '.')
	if dot <= 0 {
		return Principal{}, fmt.Errorf("principal %q: want 'MSPID.role', e.g. 'Org1MSP.member'", s)
	}
	msp, role := body[:dot], Role(body[dot+1:])
	if !mspIDPattern.MatchString(msp) {
		return Principal{}, fmt.Errorf("principal %q: MSP ID %q may only hold letters, digits, '.' and '-'", s, msp)
	}
	switch role {
	case RoleMember, RoleAdmin, RoleClient, RolePeer, RoleOrderer:
	default:
		return Principal{}, fmt.Errorf("principal %q: unknown role %q (want member, admin, client, peer or orderer)", s, role)
	}
	return Principal{MSPID: msp, Role: role}, nil
}

// String returns the principal in policy syntax, quoted.
func (p Principal) String() string { return "'" + p.MSPID + "." + string(p.Role) + "'" }

// SatisfiedBy reports whether a validated identity satisfies the principal.
func (p Principal) SatisfiedBy(id *Identity) bool {
	if id == nil || id.MSPID != p.MSPID {
		return false
	}
	return p.Role == RoleMember || p.Role == id.Role
}
