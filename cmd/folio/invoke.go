package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// This file holds `folio contract invoke|query`: call any contract's
// function, as Fabric's `peer chaincode invoke/query` do.

// maxCLIArgs bounds the arguments of one call given on the command line;
// peers bound the proposal's size anyway, this only makes the error early.
const maxCLIArgs = 64

// parseCallArgs turns --args into a contract call's arguments. A JSON
// array gives one argument per element: a string is passed as its UTF-8
// bytes, any other value (object, number, ...) as its compact JSON. Any
// other JSON value is one argument, its compact JSON: the copyright
// contract takes one JSON object, so --args '{"id":"W1"}' is the common
// case. Empty means no arguments.
func parseCallArgs(s string) ([][]byte, error) {
	if s == "" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("--args is not JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("--args holds more than one JSON value: wrap several arguments in an array")
	}
	arr, ok := v.([]any)
	if !ok {
		return [][]byte{compactJSON(v)}, nil
	}
	if len(arr) > maxCLIArgs {
		return nil, fmt.Errorf("--args: %d arguments, at most %d", len(arr), maxCLIArgs)
	}
	out := make([][]byte, 0, len(arr))
	for _, e := range arr {
		if str, ok := e.(string); ok {
			out = append(out, []byte(str))
			continue
		}
		out = append(out, compactJSON(e))
	}
	return out, nil
}

func compactJSON(v any) []byte {
	b, _ := json.Marshal(v) // v came from a JSON decoder: it marshals
	return b
}

// payloadValue presents a contract's answer: JSON stays JSON.
func payloadValue(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return b
}

// contractCall is the call invoke and query make, from their flags.
type contractCall struct{ name, fn, args string }

func (c *contractCall) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.name, "name", "", "contract name (required)")
	cmd.Flags().StringVar(&c.fn, "fn", "", "function to call (required)")
	cmd.Flags().StringVar(&c.args, "args", "", "arguments as JSON: an array (one argument per element) or one value")
}

// parse checks the flags and returns the call's arguments.
func (c *contractCall) parse() ([][]byte, error) {
	if c.name == "" || c.fn == "" {
		return nil, usageErr("--name and --fn are required")
	}
	args, err := parseCallArgs(c.args)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return args, nil
}

func newContractInvokeCmd(g *globals) *cobra.Command {
	var c contractCall
	cmd := &cobra.Command{
		Use:   "invoke --name CONTRACT --fn FUNCTION [--args JSON]",
		Short: "Submit a call of any contract's function: endorsed, ordered, committed (like peer chaincode invoke)",
		Long: `Calls FUNCTION of CONTRACT as the --as identity through its organisation's
gateways: the proposal is endorsed as the contract's policy requires, ordered,
and the command waits until it commits, then prints the transaction ID, its
block, its validation code and the contract's answer.

--args is JSON: an array gives one argument per element (a string is passed
as its bytes, anything else as its JSON), any other value is one argument
(its JSON). Exit status 1 means the transaction committed as invalid.

  folio contract invoke --name copyright --fn transfer --args '{"id":"W1","to":"user1@Org2"}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			args, err := c.parse()
			if err != nil {
				return err
			}
			return g.submitTo(cmd, c.name, c.fn, args, true)
		},
	}
	c.register(cmd)
	return cmd
}

// printable is the payload for a terminal: as is when UTF-8, else hex.
func printable(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return fmt.Sprintf("%x", b)
}

func newContractQueryCmd(g *globals) *cobra.Command {
	var c contractCall
	cmd := &cobra.Command{
		Use:   "query --name CONTRACT --fn FUNCTION [--args JSON]",
		Short: "Evaluate any contract's function at a peer without submitting (like peer chaincode query)",
		Long: `Runs FUNCTION of CONTRACT at a peer of the --as identity's organisation and
prints its answer; nothing is ordered or written. --args as for invoke.

  folio contract query --name copyright --fn get --args '{"id":"W1"}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			args, err := c.parse()
			if err != nil {
				return err
			}
			out, err := g.evaluateOn(cmd, c.name, c.fn, args)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"payload": payloadValue(out)})
			}
			_, err = fmt.Fprintf(g.stdout, "%s\n", printable(out))
			return err
		},
	}
	c.register(cmd)
	return cmd
}
