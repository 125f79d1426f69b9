package history

// PeerChain is what one peer's ledger held after the run healed, as read
// from the peer itself: the block hashes and state roots at each height,
// and every transaction with the block it is in and its validation code.
// The post-heal checks compare the peers' chains with each other and with
// the clients' histories.
type PeerChain struct {
	Peer string `json:"peer"`
	// Height is the peer's ledger height (blocks 0 .. Height-1).
	Height uint64 `json:"height"`
	// BlockHashes[n] is block n's header hash.
	BlockHashes [][]byte `json:"block_hashes"`
	// StateRoots maps a block number to the peer's attested state root
	// after that block, for every block the peer could attest (a peer may
	// attest only recent blocks: the map says which).
	StateRoots map[uint64][]byte `json:"state_roots"`
	// Txs are the chain's transactions in chain order.
	Txs []ChainTx `json:"txs"`
	// Error is set when the chain could not be read completely.
	Error string `json:"error,omitempty"`
}

// ChainTx is one transaction of a peer's chain.
type ChainTx struct {
	TxID  string `json:"tx_id"`
	Block uint64 `json:"block"`
	// Code is the validation code's name ("VALID", "MVCC_READ_CONFLICT", ...).
	Code     string `json:"code"`
	Contract string `json:"contract,omitempty"`
	Function string `json:"function,omitempty"`
	// For the copyright contract's register and transfer: the work and
	// the owner the transaction writes (valid or not: Code says whether
	// it took effect).
	Kind  Kind   `json:"kind,omitempty"`
	Work  string `json:"work,omitempty"`
	Owner string `json:"owner,omitempty"`
}
