package identity

import "fmt"

// Role is what an identity may do in its organisation. It is carried in the
// certificate subject's OU, as Fabric NodeOUs do.
type Role string

const (
	RoleClient  Role = "client"
	RoleAdmin   Role = "admin"
	RolePeer    Role = "peer"
	RoleOrderer Role = "orderer"
	// RoleMember is not carried by certificates; as a principal it matches
	// any valid identity of the organisation.
	RoleMember Role = "member"
)

// certRoles are the roles a certificate can carry.
var certRoles = []Role{RoleClient, RoleAdmin, RolePeer, RoleOrderer}

// ParseRole parses a role a certificate can carry (not "member").
func ParseRole(s string) (Role, error) {
	for _, r := range certRoles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (want client, admin, peer or orderer)", s)
}

// IsNode reports whether the role is a network node's.
func (r Role) IsNode() bool { return r == RolePeer || r == RoleOrderer }
