package copyright

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/folio-ledger/folio/contract"
)

// Work types.
var workTypes = []string{"text", "image", "audio", "video", "software", "other"}

// DefaultType is the type of a work registered without one.
const DefaultType = "other"

// Actions recorded in a record's last change.
const (
	ActionRegister = "register"
	ActionTransfer = "transfer"
	ActionDelete   = "delete" // only seen in history, if a record was deleted
)

// Record is a registered work as stored in state. The ledger version is
// not stored (it is the key's version); get and list add it.
type Record struct {
	ID           string `json:"id"`
	Title        string `json:"title"`
	Author       string `json:"author"`
	Owner        string `json:"owner"`
	Type         string `json:"type"`
	ContentHash  string `json:"content_hash"`
	RegisteredAt string `json:"registered_at"`
	RegisteredBy string `json:"registered_by"`
	// Action, UpdatedBy and UpdatedAt describe the change that wrote this
	// value: register or transfer, by whom ("name@Org"), when (the
	// transaction timestamp).
	Action    string `json:"action"`
	UpdatedBy string `json:"updated_by"`
	UpdatedAt string `json:"updated_at"`
	// Relation is what the registration declared about its content hash:
	// "derivative-of:ID" (RegisterArgs.Relation) or "duplicate-of:ID" (the
	// original registration of the same hash, for AllowDuplicate); empty
	// for an original.
	Relation string `json:"relation,omitempty"`
}

// RecordVersion is the ledger height of a record as get and list answer
// it (and CLI.md shows it): contract.Version with the JSON member names of
// the contract's responses, which contract.Version, a plain struct of the
// ABI, does not have.
type RecordVersion struct {
	Block uint64 `json:"block"`
	Tx    uint64 `json:"tx"`
}

// Work is a record with the version it was read at: what get and list
// return.
type Work struct {
	Record
	Version *RecordVersion `json:"version,omitempty"`
}

// Limits of the record fields.
const (
	MaxIDBytes     = 128
	MaxTitleBytes  = 512
	MaxAuthorBytes = 256
	MaxOwnerBytes  = 256
)

func checkID(field, id string) error {
	switch {
	case id == "":
		return contract.BadRequest(field, "%s is required", field)
	case len(id) > MaxIDBytes:
		return contract.BadRequest(field, "%s has %d bytes, at most %d", field, len(id), MaxIDBytes)
	case !validID(id):
		return contract.BadRequest(field, "%s %q may contain only letters, digits and . _ : - and must start with a letter or digit", field, id)
	}
	return nil
}

// checkText validates a free-text field: required, bounded, printable.
func checkText(field, s string, max int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return contract.BadRequest(field, "%s is required", field)
	case len(s) > max:
		return contract.BadRequest(field, "%s has %d bytes, at most %d", field, len(s), max)
	case !utf8.ValidString(s):
		return contract.BadRequest(field, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.MaxRune || r == utf8.RuneError {
			return contract.BadRequest(field, "%s contains the control or invalid character %U", field, r)
		}
	}
	return nil
}

// checkOwner validates a "user@Org" label.
func checkOwner(field, s string) error {
	switch {
	case s == "":
		return contract.BadRequest(field, "%s is required (user@Org)", field)
	case len(s) > MaxOwnerBytes:
		return contract.BadRequest(field, "%s has %d bytes, at most %d", field, len(s), MaxOwnerBytes)
	case !validOwner(s):
		return contract.BadRequest(field, "%s %q is not of the form user@Org", field, s)
	}
	return nil
}

// orgOf returns the organisation of a "user@Org" label.
func orgOf(owner string) string {
	_, org, _ := strings.Cut(owner, "@")
	return org
}

func checkType(field, t string) error {
	for _, w := range workTypes {
		if t == w {
			return nil
		}
	}
	return contract.BadRequest(field, "%s %q is not one of %s", field, t, strings.Join(workTypes, ", "))
}

// normHash validates "sha256:<64 hex>" and returns it with lowercase hex.
func normHash(field, h string) (string, error) {
	if h == "" {
		return "", contract.BadRequest(field, "%s is required (sha256:<64 hex digits>)", field)
	}
	if !validHash(h) {
		return "", contract.BadRequest(field, "%s %q is not sha256:<64 hex digits>", field, truncate(h, 80))
	}
	// The scheme is lowercase already, so this lowercases the hex digits
	// (and returns h itself, without copying, if they are).
	return strings.ToLower(h), nil
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// Hand-written equivalents of the patterns the record's fields must
// match, documented as regular expressions (regexp is slow in wasm).

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// validID matches ^[A-Za-z0-9][A-Za-z0-9._:-]*$.
func validID(s string) bool {
	if s == "" || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != ':' && c != '-' {
			return false
		}
	}
	return true
}

// validLabelPart matches ^[A-Za-z0-9][A-Za-z0-9._-]*$.
func validLabelPart(s string) bool {
	if s == "" || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validOwner matches
// ^[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9._-]*$: neither part
// may hold an '@', so splitting at the first one is enough.
func validOwner(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '@' {
			return validLabelPart(s[:i]) && validLabelPart(s[i+1:])
		}
	}
	return false
}

// hashPrefix is the scheme of content hashes.
const hashPrefix = "sha256:"

// validHash matches ^sha256:[0-9a-fA-F]{64}$.
func validHash(s string) bool {
	if len(s) != len(hashPrefix)+64 || s[:len(hashPrefix)] != hashPrefix {
		return false
	}
	for i := len(hashPrefix); i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
