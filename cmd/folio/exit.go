package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/client"
)

// Exit statuses (docs/cli.md, "Exit status"): scripts tell a mistake in
// the command line from a refusal by the network, a forged document or
// a network that is down.
const (
	exitOK = 0
	// exitFailure: the operation failed for another reason.
	exitFailure = 1
	// exitInvalid: what was checked is not valid (evidence, an identity,
	// a ledger, a session storm that did not converge).
	exitInvalid = 2
	// exitRefused: the network refused the request (a contract or
	// endorsement refusal, a transaction committed as invalid, a
	// permission the identity lacks).
	exitRefused = 3
	// exitNotFound: what was asked for does not exist.
	exitNotFound = 4
	// exitUsage: the command line is wrong (sysexits EX_USAGE): an
	// unknown command or flag, a value out of range, a missing argument.
	exitUsage = 64
	// exitUnavailable: no node could be reached (sysexits EX_UNAVAILABLE).
	exitUnavailable = 69
)

// exitError carries a specific exit status (e.g. exitInvalid for
// "verification failed") and, optionally, a hint on what to do.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr is a command-line mistake: exit status exitUsage.
func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// run executes the command line args and returns the exit status. It is
// the one place that turns errors into statuses and messages: on stderr
// always, and with --json also as one JSON document on stdout.
func run(args []string, stdout, stderr io.Writer) int {
	out := &countingWriter{w: stdout}
	root, g := newRootWith(out, stderr)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(stderr)
	_, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	code, kind, hint := classify(err)
	msg := err.Error()
	fmt.Fprintln(stderr, "folio: "+msg)
	if hint != "" {
		fmt.Fprintln(stderr, "hint: "+hint)
	}
	// A command that already printed its JSON document (a transaction
	// committed as invalid prints its result, then fails) says what
	// happened there: --json prints exactly one document.
	if (g.json || jsonRequested(args)) && out.n == 0 {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"error": jsonError{Status: code, Kind: kind, Message: msg, Hint: hint}})
	}
	return code
}

// countingWriter counts what a command wrote.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// jsonError is the --json form of a failure.
type jsonError struct {
	Status  int    `json:"status"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// jsonRequested reports whether --json is on the command line even when
// parsing stopped before the flag was read (an unknown flag before it).
func jsonRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--json" || a == "--json=true" {
			return true
		}
	}
	return false
}

// classify gives an error its exit status, a kind for --json and a hint.
func classify(err error) (code int, kind, hint string) {
	var ee *exitError
	if errors.As(err, &ee) {
		code, hint = ee.code, ee.hint
	} else if isCobraUsage(err) {
		code = exitUsage
	} else {
		switch connect.CodeOf(err) {
		case connect.CodeUnavailable:
			code = exitUnavailable
		case connect.CodeNotFound:
			code = exitNotFound
		case connect.CodePermissionDenied, connect.CodeFailedPrecondition, connect.CodeAlreadyExists,
			connect.CodeInvalidArgument, connect.CodeAborted, connect.CodeResourceExhausted:
			code = exitRefused
		default:
			code = exitFailure
		}
		var inv *client.InvalidError
		if errors.As(err, &inv) {
			code = exitRefused
		}
		if errors.Is(err, client.ErrNoGateway) || errors.Is(err, context.DeadlineExceeded) && code == exitFailure {
			code = exitUnavailable
		}
	}
	switch code {
	case exitUsage:
		kind = "usage"
		if hint == "" {
			hint = "see 'folio help' or the command's --help"
		}
	case exitInvalid:
		kind = "invalid"
	case exitRefused:
		kind = "refused"
	case exitNotFound:
		kind = "not_found"
	case exitUnavailable:
		kind = "unavailable"
		if hint == "" {
			hint = "is the network up? try `folio network status`"
		}
	default:
		kind = "failure"
	}
	return code, kind, hint
}

// isCobraUsage recognises the command-line errors cobra and pflag make
// themselves (they are plain errors): unknown commands and flags, bad
// flag values, missing required flags, wrong argument counts.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "invalid argument",
		"required flag(s)", "flag needs an argument", "accepts ", "requires at least", "requires at most",
		"if any flags in the group", "bad flag syntax"} {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, " "+p) {
			return true
		}
	}
	return false
}

// flagError turns pflag's parse errors into usage errors; a negative
// number where a flag or positional argument takes none reads as a
// shorthand flag to pflag ("unknown shorthand flag: '1' in -1"), which
// says nothing useful: name the range instead.
func flagError(c *cobra.Command, err error) error {
	hint := "see '" + c.CommandPath() + " --help'"
	if m := negativeAsFlag.FindStringSubmatch(err.Error()); m != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: negative numbers are not accepted here (block numbers, counts and sizes are 0 or more)", m[1]), hint: hint}
	}
	msg := err.Error()
	if strings.Contains(msg, "strconv.ParseUint") && strings.Contains(msg, `"-`) {
		if i := strings.Index(msg, ": strconv.ParseUint"); i > 0 {
			msg = msg[:i] + ": must be 0 or more"
		}
		return &exitError{code: exitUsage, err: errors.New(msg), hint: hint}
	}
	return &exitError{code: exitUsage, err: err, hint: hint}
}

var negativeAsFlag = regexp.MustCompile(`^unknown shorthand flag: '.' in (-[0-9]+)$`)

// requireKnownSubcommand makes every command that only groups others
// (folio work, folio release, ...) refuse an unknown subcommand with a
// usage error and suggestions, instead of printing its help and exiting
// 0; without arguments it prints its help.
func requireKnownSubcommand(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		requireKnownSubcommand(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return &exitError{code: exitUsage, err: errors.New(msg), hint: "commands of " + c.CommandPath() + ": " + strings.Join(names, ", ")}
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
}
