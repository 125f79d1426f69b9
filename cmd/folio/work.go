package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// CopyrightContract is the contract the work commands call.
const copyrightContract = "copyright"

var sha256Pattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Patterns of the copyright contract's work IDs and owners (its record.go),
// checked here so that a typo is a usage error, before any network call.
var (
	workIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	ownerPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// maxListLimit is the copyright contract's largest list page.
const maxListLimit = 1000

// hashFile streams a file through SHA-256, reporting progress on big files.
func hashFile(path string, progress io.Writer) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	var r io.Reader = f
	if fi.Size() > 64<<20 {
		r = &progressReader{r: f, total: fi.Size(), w: progress, what: "hashing " + path}
	}
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("--file %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

type progressReader struct {
	r     io.Reader
	total int64
	done  int64
	last  time.Time
	w     io.Writer
	what  string
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if time.Since(p.last) > 500*time.Millisecond || err == io.EOF {
		p.last = time.Now()
		fmt.Fprintf(p.w, "\r%s: %3.0f%% of %d MiB", p.what, 100*float64(p.done)/float64(p.total), p.total>>20)
		if err == io.EOF {
			fmt.Fprintln(p.w)
		}
	}
	return n, err
}

func newWorkCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "work", Short: "Register, transfer and query creative works (the copyright contract)"}

	var reg struct {
		id, title, author, owner, typ, file, hash, derivativeOf string
		duplicate                                               bool
	}
	register := &cobra.Command{
		Use:   "register --id ID --title T --author A (--file PATH | --hash sha256:HEX) [--owner USER@ORG] [--type TYPE] [--derivative-of ID | --duplicate]",
		Short: "Register a work; both organisations endorse, and the command returns once it is committed",
		Long: `Register a work; both organisations endorse, and the command returns once it is committed.

A content hash registers once: if another work already has it, the network
refuses the registration and names the earlier one (work, owner, who
registered it, when, in which block: the priority evidence). To register it
anyway, say why: --derivative-of ID records the work as derived from the
registered work ID (a remix, a translation; its hash may be new or the same),
--duplicate records a deliberate second registration of the same content
(recorded as "duplicate-of" the original). ` + "`folio work list --hash sha256:HEX`" + ` lists every
registration of a content hash.

The owner (--owner, default the signing identity) must belong to an
organisation of the channel.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (reg.file == "") == (reg.hash == "") {
				return usageErr("give exactly one of --file PATH (hashed here) or --hash sha256:HEX")
			}
			if reg.hash != "" && !sha256Pattern.MatchString(reg.hash) {
				return usageErr("--hash %q: want sha256: followed by 64 lowercase hex digits", reg.hash)
			}
			if reg.derivativeOf != "" && reg.duplicate {
				return usageErr("--derivative-of and --duplicate exclude each other: a work is a derivative of another, or a deliberate duplicate")
			}
			if reg.derivativeOf != "" && !workIDPattern.MatchString(reg.derivativeOf) {
				return usageErr("--derivative-of %q: want a work ID (letters, digits and . _ : -, starting with a letter or digit)", reg.derivativeOf)
			}
			if reg.owner != "" && !ownerPattern.MatchString(reg.owner) {
				return usageErr("--owner %q: want user@Org", reg.owner)
			}
			hash := reg.hash
			if reg.file != "" {
				var err error
				if hash, err = hashFile(reg.file, g.progress()); err != nil {
					return err
				}
			}
			args := map[string]any{"id": reg.id, "title": reg.title, "author": reg.author,
				"owner": reg.owner, "type": reg.typ, "content_hash": hash}
			if reg.derivativeOf != "" {
				args["relation"] = "derivative-of:" + reg.derivativeOf
			}
			if reg.duplicate {
				args["allow_duplicate"] = true
			}
			return g.submit(cmd, "register", args)
		},
	}
	f := register.Flags()
	f.StringVar(&reg.id, "id", "", "registration number of the work (unique)")
	f.StringVar(&reg.title, "title", "", "title")
	f.StringVar(&reg.author, "author", "", "author")
	f.StringVar(&reg.owner, "owner", "", "copyright owner as user@Org (default: the signing identity)")
	f.StringVar(&reg.typ, "type", "", "text, image, audio, video, software or other (default other)")
	f.StringVar(&reg.file, "file", "", "the work's file: its SHA-256 is registered (the file itself stays here)")
	f.StringVar(&reg.hash, "hash", "", "the work's content hash, sha256:HEX, instead of --file")
	f.StringVar(&reg.derivativeOf, "derivative-of", "", "register the work as a derivative of the registered work ID (allowed even if its content hash is registered)")
	f.BoolVar(&reg.duplicate, "duplicate", false, "register a content hash that is already registered, on purpose (recorded as a duplicate of the original)")
	_ = register.MarkFlagRequired("id")
	_ = register.MarkFlagRequired("title")
	_ = register.MarkFlagRequired("author")

	var tr struct{ id, to string }
	transfer := &cobra.Command{
		Use:   "transfer --id ID --to USER@ORG",
		Short: "Transfer a work's rights (only its owner, or an admin of the owner's organisation)",
		Long: `Transfer a work's rights (only its owner, or an admin of the owner's organisation).
The new owner must belong to an organisation of the channel: the network
refuses any other, since nobody could ever transfer the work again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !ownerPattern.MatchString(tr.to) {
				return usageErr("--to %q: want user@Org", tr.to)
			}
			return g.submit(cmd, "transfer", map[string]string{"id": tr.id, "to": tr.to})
		},
	}
	transfer.Flags().StringVar(&tr.id, "id", "", "the work")
	transfer.Flags().StringVar(&tr.to, "to", "", "new owner, user@Org")
	_ = transfer.MarkFlagRequired("id")
	_ = transfer.MarkFlagRequired("to")

	var getID string
	get := &cobra.Command{
		Use:   "get --id ID",
		Short: "Show a work's record and the version (block, tx) that last changed it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := g.evaluate(cmd, "get", map[string]string{"id": getID})
			if err != nil {
				return err
			}
			return g.emitRaw(out, func(w io.Writer, v map[string]any) {
				for _, k := range []string{"id", "title", "author", "owner", "type", "content_hash", "registered_at"} {
					if val, ok := v[k]; ok {
						fmt.Fprintf(w, "%-14s %v\n", k, val)
					}
				}
				if ver, ok := v["version"].(map[string]any); ok {
					fmt.Fprintf(w, "%-14s block %v, tx %v\n", "version", ver["block"], ver["tx"])
				}
			})
		},
	}
	get.Flags().StringVar(&getID, "id", "", "the work")
	_ = get.MarkFlagRequired("id")

	var hist struct {
		id            string
		limit, offset int
	}
	history := &cobra.Command{
		Use:   "history --id ID [--limit N] [--offset M]",
		Short: "Every change of a work, oldest first: transaction, block, time, who, what, owner",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := g.evaluate(cmd, "history", map[string]string{"id": hist.id})
			if err != nil {
				return err
			}
			var h struct {
				ID      string            `json:"id"`
				Entries []json.RawMessage `json:"entries"`
			}
			if err := json.Unmarshal(out, &h); err != nil {
				return fmt.Errorf("history: %w", err)
			}
			h.Entries = page(h.Entries, hist.offset, hist.limit)
			page, _ := json.Marshal(h)
			return g.emitRaw(page, func(w io.Writer, v map[string]any) {
				entries, _ := v["entries"].([]any)
				for _, e := range entries {
					m, _ := e.(map[string]any)
					fmt.Fprintf(w, "%v  block %v  %-8v by %-16v owner %v  tx %v\n", m["timestamp"], m["block"], m["action"], m["creator"], m["owner"], m["tx_id"])
				}
			})
		},
	}
	history.Flags().StringVar(&hist.id, "id", "", "the work")
	history.Flags().IntVar(&hist.limit, "limit", 0, "at most this many entries (0: all)")
	history.Flags().IntVar(&hist.offset, "offset", 0, "skip this many of the oldest entries")
	_ = history.MarkFlagRequired("id")

	var ls struct {
		owner, author, hash string
		limit               int
	}
	list := &cobra.Command{
		Use:   "list [--owner USER@ORG] [--author A] [--hash sha256:HEX] [--limit N]",
		Short: "List works by owner, author or content hash (--hash: every registration of that content)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ls.limit < 0 || ls.limit > maxListLimit {
				return usageErr("--limit %d: want 0 (the contract's default) to %d", ls.limit, maxListLimit)
			}
			if ls.hash != "" && !sha256Pattern.MatchString(strings.ToLower(ls.hash)) {
				return usageErr("--hash %q: want sha256: followed by 64 hex digits", ls.hash)
			}
			args := map[string]any{"owner": ls.owner, "author": ls.author, "limit": ls.limit}
			if ls.hash != "" {
				args["hash"] = strings.ToLower(ls.hash)
			}
			out, err := g.evaluate(cmd, "list", args)
			if err != nil {
				return err
			}
			return g.emitRaw(out, func(w io.Writer, v map[string]any) {
				works, _ := v["works"].([]any)
				for _, x := range works {
					m, _ := x.(map[string]any)
					line := fmt.Sprintf("%-16v %-30v by %-20v owner %v", m["id"], m["title"], m["author"], m["owner"])
					if ls.hash != "" {
						line += fmt.Sprintf("  registered %v", m["registered_at"])
					}
					if rel, ok := m["relation"]; ok {
						line += fmt.Sprintf("  (%v)", rel)
					}
					fmt.Fprintln(w, line)
				}
				if more, _ := v["more"].(bool); more {
					fmt.Fprintln(w, "(more: raise --limit)")
				}
			})
		},
	}
	list.Flags().StringVar(&ls.owner, "owner", "", "owner, user@Org")
	list.Flags().StringVar(&ls.author, "author", "", "author")
	list.Flags().StringVar(&ls.hash, "hash", "", "content hash, sha256:HEX: every registration of it (the original and any derivatives or duplicates)")
	list.Flags().IntVar(&ls.limit, "limit", 0, "at most this many works, 1 to 1000 (contract default 100 when 0)")

	cmd.AddCommand(register, transfer, get, history, list, newWorkProveCmd(g))
	return cmd
}

func page[T any](xs []T, offset, limit int) []T {
	if offset > len(xs) {
		offset = len(xs)
	}
	xs = xs[offset:]
	if limit > 0 && limit < len(xs) {
		xs = xs[:limit]
	}
	return xs
}

// emitRaw prints a contract's JSON answer as is with --json (re-indented),
// else through human.
func (g *globals) emitRaw(raw []byte, human func(io.Writer, map[string]any)) error {
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("contract answered non-JSON: %s", strings.TrimSpace(string(raw)))
	}
	if g.json {
		return g.printJSON(v)
	}
	human(g.stdout, v)
	return nil
}
