package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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

	var reg struct{ id, title, author, owner, typ, file, hash string }
	register := &cobra.Command{
		Use:   "register --id ID --title T --author A (--file PATH | --hash sha256:HEX) [--owner USER@ORG] [--type TYPE]",
		Short: "Register a work; both organisations endorse, and the command returns once it is committed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (reg.file == "") == (reg.hash == "") {
				return errors.New("give exactly one of --file PATH (hashed here) or --hash sha256:HEX")
			}
			hash := reg.hash
			if reg.file != "" {
				var err error
				if hash, err = hashFile(reg.file, g.progress()); err != nil {
					return err
				}
			} else if !sha256Pattern.MatchString(hash) {
				return fmt.Errorf("--hash %q: want sha256: followed by 64 lowercase hex digits", hash)
			}
			return g.submit(cmd, "register", map[string]string{"id": reg.id, "title": reg.title, "author": reg.author,
				"owner": reg.owner, "type": reg.typ, "content_hash": hash})
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
	_ = register.MarkFlagRequired("id")
	_ = register.MarkFlagRequired("title")
	_ = register.MarkFlagRequired("author")

	var tr struct{ id, to string }
	transfer := &cobra.Command{
		Use:   "transfer --id ID --to USER@ORG",
		Short: "Transfer a work's rights (only its owner, or an admin of the owner's organisation)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
		owner, author string
		limit         int
	}
	list := &cobra.Command{
		Use:   "list [--owner USER@ORG] [--author A] [--limit N]",
		Short: "List works by owner or by author",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := g.evaluate(cmd, "list", map[string]any{"owner": ls.owner, "author": ls.author, "limit": ls.limit})
			if err != nil {
				return err
			}
			return g.emitRaw(out, func(w io.Writer, v map[string]any) {
				works, _ := v["works"].([]any)
				for _, x := range works {
					m, _ := x.(map[string]any)
					fmt.Fprintf(w, "%-16v %-30v by %-20v owner %v\n", m["id"], m["title"], m["author"], m["owner"])
				}
				if more, _ := v["more"].(bool); more {
					fmt.Fprintln(w, "(more: raise --limit)")
				}
			})
		},
	}
	list.Flags().StringVar(&ls.owner, "owner", "", "owner, user@Org")
	list.Flags().StringVar(&ls.author, "author", "", "author")
	list.Flags().IntVar(&ls.limit, "limit", 0, "at most this many works (contract default when 0)")

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
