package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/client"
)

// gateway is the SDK client for the work commands: the gateways of the
// --as identity's organisation, --peer first (see gatewayPeers).
func (g *globals) gateway() (*client.Gateway, error) {
	dir, n, err := g.loadNetwork()
	if err != nil {
		return nil, err
	}
	id, err := g.signer(dir, "")
	if err != nil {
		return nil, err
	}
	hc, err := g.nodeHTTP(dir, n)
	if err != nil {
		return nil, err
	}
	gw, _, err := g.gatewayClient(hc, n, id)
	return gw, err
}

func jsonArg(v any) [][]byte {
	b, _ := json.Marshal(v)
	return [][]byte{b}
}

// submitResult is what register and transfer print.
type submitResult struct {
	TxID   string `json:"tx_id"`
	Block  uint64 `json:"block"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Payload is the contract's answer (contract invoke only): JSON as
	// is, else a string when it is UTF-8, else base64 (encoding/json's
	// []byte).
	Payload any `json:"payload,omitempty"`
}

// submit calls the copyright contract's function with args as one JSON
// argument, and prints the outcome.
func (g *globals) submit(cmd *cobra.Command, function string, args any) error {
	return g.submitTo(cmd, copyrightContract, function, jsonArg(args), false)
}

// submitTo submits contract.function(args), waits for the commit and
// prints the outcome (with the contract's answer when withPayload); a
// transaction committed as invalid exits 1.
func (g *globals) submitTo(cmd *cobra.Command, contract, function string, args [][]byte, withPayload bool) error {
	gw, err := g.gateway()
	if err != nil {
		return err
	}
	ctx, cancel := rpcContext(cmd)
	defer cancel()
	res, err := gw.Submit(ctx, contract, function, args, client.SubmitOptions{})
	var inv *client.InvalidError
	if err != nil && !errors.As(err, &inv) {
		return fmt.Errorf("%s: %w", function, err)
	}
	out := submitResult{TxID: res.TxID, Block: res.Block, Status: res.Code.String(), Reason: res.Reason}
	if withPayload {
		out.Payload = payloadValue(res.Payload)
	}
	if perr := g.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "%s committed in block %d: %s (via %s)\n", res.TxID, res.Block, out.Status, res.Via)
		if withPayload && res.Reason != "" {
			fmt.Fprintf(w, "reason: %s\n", res.Reason)
		}
		if withPayload && len(res.Payload) > 0 {
			fmt.Fprintf(w, "%s\n", printable(res.Payload))
		}
	}); perr != nil {
		return perr
	}
	if inv != nil {
		return &exitError{code: 1, err: inv}
	}
	return nil
}

// evaluate queries the copyright contract's function with args as one
// JSON argument.
func (g *globals) evaluate(cmd *cobra.Command, function string, args any) ([]byte, error) {
	return g.evaluateOn(cmd, copyrightContract, function, jsonArg(args))
}

// evaluateOn queries contract.function(args) at a peer without submitting,
// as current as --min-height and --linearizable ask.
func (g *globals) evaluateOn(cmd *cobra.Command, contract, function string, args [][]byte) ([]byte, error) {
	o, err := g.readOptions()
	if err != nil {
		return nil, err
	}
	gw, err := g.gateway()
	if err != nil {
		return nil, err
	}
	ctx, cancel := rpcContext(cmd)
	defer cancel()
	out, err := gw.EvaluateWithOptions(ctx, o, contract, function, args...)
	if err != nil {
		err = fmt.Errorf("%s: %w", function, err)
		if strings.Contains(err.Error(), " is behind: ") {
			// Not "is the network up?": it is, but no peer has the block.
			return nil, &exitError{code: exitUnavailable, err: err,
				hint: "no peer of the organisation reached the block the read needs in time: check --min-height, or retry"}
		}
		return nil, err
	}
	return out, nil
}

// maxMinHeight is the highest block --min-height takes: far beyond any
// chain, and N+1 (the ledger height the read needs) cannot overflow.
const maxMinHeight = 1 << 62

// readOptions are the --min-height and --linearizable flags as SDK read
// options; a value out of range is a usage error.
func (g *globals) readOptions() (client.EvaluateOptions, error) {
	if g.minHeight > maxMinHeight {
		return client.EvaluateOptions{}, usageErr("--min-height %d: use a block number from 0 to %d (the block a write printed)", g.minHeight, uint64(maxMinHeight))
	}
	o := client.EvaluateOptions{Linearizable: g.linearizable}
	if g.minHeight > 0 {
		// Block N is committed once the ledger height is N+1. Block 0
		// (genesis) is on every peer: 0 asks nothing.
		o.MinHeight = g.minHeight + 1
	}
	return o, nil
}
