package trie

// Keys are handled in three forms:
//
//   - key bytes: what callers pass;
//   - hex: one nibble (0..15) per byte, high nibble first, followed by the
//     terminator 16 when the path ends at a value. Nodes in memory hold hex
//     paths; a leaf's path ends with the terminator, an extension's does not;
//   - compact (hex-prefix, Yellow Paper appendix C): the form inside encoded
//     nodes. The first nibble holds two flags, odd length (1) and leaf (2); an
//     even-length path gets a zero padding nibble.

// terminator marks the end of a key in hex form.
const terminator = 16

// keybytesToHex converts key bytes to hex form with the terminator.
func keybytesToHex(key []byte) []byte {
	nibbles := make([]byte, len(key)*2+1)
	for i, b := range key {
		nibbles[i*2] = b >> 4
		nibbles[i*2+1] = b & 0x0f
	}
	nibbles[len(nibbles)-1] = terminator
	return nibbles
}

// hexToKeybytes converts an even-length hex path (terminator optional) back
// to key bytes, appending to dst.
func hexToKeybytes(dst, hex []byte) []byte {
	if hasTerm(hex) {
		hex = hex[:len(hex)-1]
	}
	for i := 0; i+1 < len(hex); i += 2 {
		dst = append(dst, hex[i]<<4|hex[i+1])
	}
	return dst
}

func hasTerm(hex []byte) bool {
	return len(hex) > 0 && hex[len(hex)-1] == terminator
}

// compactToHex decodes a compact path into hex form (with the terminator for
// leaves). It reports false for an invalid flag nibble or a non-zero padding
// nibble.
func compactToHex(compact []byte) ([]byte, bool) {
	if len(compact) == 0 {
		return nil, false
	}
	flags := compact[0] >> 4
	if flags > 3 {
		return nil, false
	}
	leaf, odd := flags&2 != 0, flags&1 != 0
	if !odd && compact[0]&0x0f != 0 {
		return nil, false
	}
	n := (len(compact)-1)*2 + 1
	if odd {
		n++
	}
	if leaf {
		n++
	}
	hex := make([]byte, 0, n)
	if odd {
		hex = append(hex, compact[0]&0x0f)
	}
	for _, b := range compact[1:] {
		hex = append(hex, b>>4, b&0x0f)
	}
	if leaf {
		hex = append(hex, terminator)
	}
	return hex, true
}

// prefixLen returns the length of the common prefix of a and b.
func prefixLen(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// concat returns a new slice holding a followed by b.
func concat(a, b []byte) []byte {
	r := make([]byte, len(a)+len(b))
	copy(r, a)
	copy(r[len(a):], b)
	return r
}
