package trie

// Prove returns a Merkle proof for key: the RLP encodings of the nodes on
// the path from the root towards key, root first, leaving out nodes embedded
// in their parent (they are inside the parent's encoding). It is the
// go-ethereum Trie.Prove / EIP-1186 eth_getProof format. For a key that is
// present the last node holds its value; for an absent key the path ends
// where the trie proves the key cannot be (an empty slot, a diverging leaf
// or extension). An empty trie has an empty proof.
//
// Verify with proof.VerifyProof against the trie's Hash, or with any
// Ethereum proof verifier. Prove hashes the trie first and keeps the nodes
// it loads.
func (t *Trie) Prove(key []byte) ([][]byte, error) {
	t.Hash()
	hex := keybytesToHex(key)
	var (
		path   []node // nodes on the path, root first
		n      = t.root
		pos    int
		parent node // n's parent, where a resolved n is stored
		slot   byte // n's slot in a full parent
	)
	for n != nil {
		if h, ok := n.(hashNode); ok {
			resolved, err := t.resolveHash(h, hex[:pos])
			if err != nil {
				return nil, err
			}
			switch p := parent.(type) {
			case nil:
				t.root = resolved
			case *shortNode:
				p.val = resolved
			case *fullNode:
				p.children[slot] = resolved
			}
			n = resolved
		}
		path = append(path, n)
		switch nn := n.(type) {
		case *shortNode:
			if len(hex)-pos < len(nn.key) || string(nn.key) != string(hex[pos:pos+len(nn.key)]) {
				n = nil // diverging path: proves absence
				break
			}
			pos += len(nn.key)
			if _, ok := nn.val.(valueNode); ok {
				n = nil
				break
			}
			parent, n = nn, nn.val
		case *fullNode:
			i := hex[pos]
			pos++
			if i == terminator {
				n = nil // the value slot is part of this node
				break
			}
			parent, slot, n = nn, i, nn.children[i]
		default:
			n = nil
		}
	}
	proof := make([][]byte, 0, len(path))
	for i, n := range path {
		var f *nodeFlags
		switch nn := n.(type) {
		case *shortNode:
			f = &nn.flags
		case *fullNode:
			f = &nn.flags
		default:
			continue
		}
		// Hashing made every stored node's flags hashed; other nodes
		// below the root are embedded in their parent's encoding.
		if i == 0 || f.hashed {
			proof = append(proof, t.h.encodeNode(n))
		}
	}
	return proof, nil
}
