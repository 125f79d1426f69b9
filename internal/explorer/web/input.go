package web

import (
	"encoding/hex"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxText bounds free-text inputs (IDs, owners, authors, search terms).
const maxText = 256

// parseBlockNumber reads a block number; anything else is a 400.
func parseBlockNumber(s string) (uint64, *httpError) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, badRequest("%q is not a block number (a non-negative integer) or a block hash (64 hex digits).", clip(s))
	}
	return n, nil
}

// isHex64 reports whether s is 64 hex digits (a SHA-256 in hex).
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// normHex64 lowercases a 64-hex-digit hash, accepting a 0x prefix.
func normHex64(s string) (string, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if !isHex64(s) {
		return "", false
	}
	return strings.ToLower(s), true
}

// normContentHash returns a content hash as the copyright contract
// stores it, "sha256:" and 64 lowercase hex digits, from that form or
// bare hex.
func normContentHash(s string) (string, *httpError) {
	h, ok := normHex64(strings.TrimPrefix(strings.TrimSpace(s), "sha256:"))
	if !ok {
		return "", badRequest("%q is not a content hash: expected sha256: followed by 64 hex digits.", clip(s))
	}
	return "sha256:" + h, nil
}

// checkText refuses free text that is too long, not UTF-8 or carries
// control characters.
func checkText(field, s string) *httpError {
	if len(s) > maxText {
		return badRequest("%s is %d bytes long; at most %d are accepted.", field, len(s), maxText)
	}
	if !utf8.ValidString(s) {
		return badRequest("%s is not valid UTF-8.", field)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return badRequest("%s contains control characters.", field)
	}
	return nil
}

// clip shortens input echoed in error messages.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	n := 80
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
