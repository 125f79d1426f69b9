package main

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	crelease "github.com/folio-ledger/folio/client/release"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/localnet/genesiscontracts"
	"github.com/folio-ledger/folio/internal/perf/releasebench"
)

// releaseClient builds the timed-release SDK client for --as at --peer.
func (g *globals) releaseClient() (*crelease.Client, error) {
	dir, n, err := g.loadNetwork()
	if err != nil {
		return nil, err
	}
	if _, err := g.resolvePeer(n); err != nil {
		return nil, err
	}
	hc, err := g.nodeHTTP(dir, n)
	if err != nil {
		return nil, err
	}
	return g.releaseClientWith(dir, n, hc)
}

// releaseClientWith builds the timed-release client for --as at --peer
// on hc, a client of the --as identity (the explorer shares its own).
func (g *globals) releaseClientWith(dir string, n *localnet.Network, hc *http.Client) (*crelease.Client, error) {
	home, err := g.resolvePeer(n)
	if err != nil {
		return nil, err
	}
	id, err := g.signer(dir, "")
	if err != nil {
		return nil, err
	}
	trusted, err := g.trustedRoots(nil)
	if err != nil {
		return nil, err
	}
	roots := make(map[string]*x509.Certificate, len(trusted))
	for _, r := range trusted {
		roots[r.MSPID] = r.Cert
	}
	// Contract calls fail over to the other peers of the organisation;
	// Home stays the --peer one.
	gw, _, err := g.gatewayClient(hc, n, id)
	if err != nil {
		return nil, err
	}
	c := &crelease.Client{HTTP: hc, Gateway: gw, ID: id, Roots: roots, Home: home.Name}
	for _, nd := range n.Nodes {
		if nd.Role == config.RolePeer {
			c.Peers = append(c.Peers, crelease.Peer{Name: nd.Name, Org: nd.Org, NodeID: nd.NodeID, API: nd.API})
		}
	}
	return c, nil
}

// parseWhen reads an RFC 3339 time or a "+90s" style offset from now.
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if strings.HasPrefix(s, "+") {
		d, err := time.ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, usageErr("--%s %q: an offset is + and a duration, e.g. +90s or +1h30m", flag, s)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usageErr("--%s %q: want an RFC 3339 time (2026-05-01T12:00:00Z) or an offset like +90s", flag, s)
	}
	return t, nil
}

var ratePattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]?)(bit|bps|B/s)?$`)

// parseRate reads a rate: 56kbit, 10Mbit (bits per second), 1.5MB/s (bytes
// per second), or a plain number of bits per second.
func parseRate(s string) (float64, error) {
	m := ratePattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, usageErr("--rate-limit %q: want e.g. 56kbit, 10Mbit, 1.5MB/s", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	switch strings.ToLower(m[2]) {
	case "k":
		v *= 1e3
	case "m":
		v *= 1e6
	case "g":
		v *= 1e9
	}
	if m[3] == "B/s" {
		v *= 8
	}
	if v <= 0 {
		return 0, usageErr("--rate-limit %q: must be positive", s)
	}
	return v, nil
}

// progressBar draws "label: 42% 4.2/10.0 MiB" on w at most 5 times a
// second.
type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	last  time.Time
	done  bool
}

func (p *progressBar) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if total <= 0 || p.done {
		return
	}
	if time.Since(p.last) < 200*time.Millisecond && done < total {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r%s: %3.0f%% %s/%s", p.label, 100*float64(done)/float64(total), mib(done), mib(total))
	if done >= total {
		fmt.Fprintln(p.w)
		p.done = true
	}
}

// mib formats a byte count for progress lines: MiB with one decimal, or
// KiB / bytes for small files (an 8 KB work is not "0.0/0.0 MiB").
func mib(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// keyWaitPrinter prints a fetch's wait for the key as lines on w (no
// carriage returns: logs and terminals read the same), rate limited: when
// the wait starts, whenever a share arrives, and then every interval(time
// to the release time), from every 5 s in the last half minute to every
// 5 min when it is hours away. Called from one goroutine at a time.
type keyWaitPrinter struct {
	w      io.Writer
	now    func() time.Time
	last   time.Time
	shares int
	n      int // lines printed
}

func (p *keyWaitPrinter) wait(k crelease.KeyWait) {
	now := p.now()
	left := k.ReleaseAt.Sub(now)
	if p.n > 0 && k.Shares == p.shares && now.Sub(p.last) < keyWaitInterval(left) {
		return
	}
	p.last, p.shares = now, k.Shares
	p.n++
	what := fmt.Sprintf("%d of %d key shares (%d key servers), via %s", k.Shares, k.Threshold, k.KeyServers, k.Edge)
	var when string
	if left > 0 {
		when = fmt.Sprintf("the release time %s is in %s", k.ReleaseAt.UTC().Format(time.RFC3339), left.Round(time.Second))
	} else {
		when = fmt.Sprintf("the release time %s passed %s ago; giving up at %s", k.ReleaseAt.UTC().Format(time.RFC3339),
			(-left).Round(time.Second), k.Deadline.UTC().Format(time.RFC3339))
	}
	line := fmt.Sprintf("waiting for the key: %s; %s", what, when)
	if k.Reason != "" {
		line += " (edge: " + k.Reason + ")"
	}
	fmt.Fprintln(p.w, line)
}

// keyWaitInterval is how often an unchanged wait is reported, by the time
// left to the release time.
func keyWaitInterval(left time.Duration) time.Duration {
	switch {
	case left <= 30*time.Second:
		return 5 * time.Second
	case left <= 2*time.Minute:
		return 15 * time.Second
	case left <= 30*time.Minute:
		return time.Minute
	}
	return 5 * time.Minute
}

// releaseErr makes the SDK's refusals of bad options usage errors.
func releaseErr(err error) error {
	if errors.Is(err, crelease.ErrBadOption) || errors.Is(err, crelease.ErrBadTime) {
		return &exitError{code: exitUsage, err: err, hint: "see 'folio release create --help'"}
	}
	return err
}

func newReleaseCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "release", Short: "Fair timed release of large works: ciphertext ahead, keys at the release time"}
	cmd.AddCommand(newReleaseCreateCmd(g), newReleaseFetchCmd(g), newReleaseStatusCmd(g), newReleaseReportCmd(g), newReleaseBenchCmd(g))
	return cmd
}

func newReleaseCreateCmd(g *globals) *cobra.Command {
	var o struct {
		work, file, at, end string
		threshold           int
		edges, servers      []string
		chunk               int64
		resume              bool
	}
	cmd := &cobra.Command{
		Use:   "create --work ID --file PATH --release-at TIME --end-at TIME [--threshold T] [--trusted-edge PEER,...] [--resume]",
		Short: "Release a registered work at a time: encrypt it, record the schedule and key shares on chain, upload the ciphertext",
		Long: `Encrypts the file in chunks under a fresh content key, checks it is the registered
work (owner and content hash), splits the key among the key servers (by default
the first peer of every organisation, a majority needed), records the release on
chain and uploads the ciphertext to your peer (the origin). Edges fetch it from
there ahead of time; the key is released at the release time. TIME is RFC 3339
or an offset from now like +90s. A work has one release: if it already has one,
the command refuses and prints it. After an interrupted upload, run it again with
--resume (the times may then be left out; given, they must be the release's).

Checked before anything is encrypted: --release-at in the future, --end-at
after it, --chunk-size 4096 to 16777216 bytes (default 1 MiB), --threshold 1
to the number of key servers (at least 2 when there are several; default a
majority), at most 16 --key-servers. Progress goes to stderr in bytes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			var at, end time.Time
			for _, t := range []struct {
				flag, val string
				to        *time.Time
			}{{"release-at", o.at, &at}, {"end-at", o.end, &end}} {
				if t.val == "" && o.resume {
					continue
				}
				if t.val == "" {
					return usageErr("--%s is required (unless --resume)", t.flag)
				}
				v, err := parseWhen(t.flag, t.val, now)
				if err != nil {
					return err
				}
				*t.to = v
			}
			// Everything that needs no network is checked before the
			// network is asked or the file encrypted.
			if !o.resume && !at.After(now) {
				return usageErr("--release-at %s: must be in the future", at.UTC().Format(time.RFC3339))
			}
			if !at.IsZero() && !end.IsZero() && !end.After(at) {
				return usageErr("--end-at %s: must be after --release-at %s", end.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
			}
			if o.chunk != 0 && (o.chunk < crelease.MinChunkSize || o.chunk > crelease.MaxChunkSize) {
				return usageErr("--chunk-size %d: must be %d to %d bytes (4 KiB to 16 MiB; default 1 MiB)", o.chunk, crelease.MinChunkSize, crelease.MaxChunkSize)
			}
			if len(o.servers) > crelease.MaxKeyServers {
				return usageErr("--key-servers: %d given, at most %d", len(o.servers), crelease.MaxKeyServers)
			}
			maxT := crelease.MaxKeyServers
			if len(o.servers) > 0 {
				maxT = len(o.servers)
			}
			if o.threshold < 0 || o.threshold > maxT {
				return usageErr("--threshold %d: must be 1 to %d, the key servers (default 0: a majority of them)", o.threshold, maxT)
			}
			if len(o.servers) > 1 && o.threshold == 1 {
				return usageErr("--threshold 1 with %d key servers would let any one of them open the work alone: must be 2 to %d", len(o.servers), len(o.servers))
			}
			if fi, err := os.Stat(o.file); err != nil {
				return usageErr("--file: %v", err)
			} else if !fi.Mode().IsRegular() || fi.Size() == 0 {
				return usageErr("--file %s: not a regular, non-empty file", o.file)
			}
			c, err := g.releaseClient()
			if err != nil {
				return err
			}
			bar := &progressBar{w: g.progress()}
			stage := ""
			labels := map[string]string{"encrypt": "encrypting", "upload": "uploading the ciphertext"}
			res, err := c.Create(cmd.Context(), crelease.CreateOptions{Work: o.work, File: o.file, ReleaseAt: at, EndAt: end, Threshold: o.threshold,
				TrustedEdges: o.edges, KeyServers: o.servers, ChunkSize: o.chunk, Resume: o.resume,
				Progress: func(s string, done, total int64) {
					if s != stage {
						stage = s
						label := labels[s]
						if label == "" {
							label = s
						}
						bar = &progressBar{w: g.progress(), label: label}
					}
					bar.update(done, total)
				}})
			if err != nil {
				return releaseErr(err)
			}
			r := res.Record
			var servers []string
			for _, ks := range r.KeyServers {
				servers = append(servers, ks.Name)
			}
			out := map[string]any{"work": r.Work, "release": r.ID, "owner": r.Owner, "release_at": r.ReleaseAt, "end_at": r.EndAt,
				"threshold": r.Threshold, "key_servers": servers, "trusted_edges": r.TrustedEdges, "origin": r.Origin,
				"size": r.Size, "chunks": r.Chunks, "chunk_root": r.ChunkRoot, "content_hash": r.ContentHash,
				"uploaded_chunks": res.Uploaded, "resumed": res.Resumed, "tx_id": r.TxID}
			return g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "release %s of %s by %s recorded (tx %s)\n", r.ID, r.Work, r.Owner, r.TxID)
				fmt.Fprintf(w, "opens at %s, ends at %s; key split %d-of-%d among %s\n", r.ReleaseAt, r.EndAt, r.Threshold, len(servers), strings.Join(servers, ", "))
				fmt.Fprintf(w, "ciphertext: %d chunks (%d bytes) uploaded to %s; trusted edges: %v\n", r.Chunks, r.CipherSize, r.Origin, r.TrustedEdges)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.work, "work", "", "the registered work's ID")
	f.StringVar(&o.file, "file", "", "the work's file (its SHA-256 must be the registered content hash)")
	f.StringVar(&o.at, "release-at", "", "release time T: RFC 3339 or +DURATION from now")
	f.StringVar(&o.end, "end-at", "", "end time E after which the work is no longer useful: RFC 3339 or +DURATION from now")
	f.IntVar(&o.threshold, "threshold", 0, "key shares needed to open the key, 1 to the key servers, at least 2 of several (default 0: a majority)")
	f.StringSliceVar(&o.edges, "trusted-edge", nil, "peers trusted to decrypt early and send plaintext to edge-decrypt clients")
	f.StringSliceVar(&o.servers, "key-servers", nil, "key server peers, at most 16 (default: the first peer of every organisation)")
	f.Int64Var(&o.chunk, "chunk-size", 0, "plaintext bytes per chunk, 4096 to 16777216 (default 0: 1 MiB)")
	f.BoolVar(&o.resume, "resume", false, "finish the interrupted create of this work's release (upload from the staged copy)")
	for _, n := range []string{"work", "file"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

type fetchOutput struct {
	Work                 string `json:"work"`
	Client               string `json:"client"`
	Edge                 string `json:"edge"`
	EdgeDecrypt          bool   `json:"edge_decrypt"`
	CiphertextCompleteAt string `json:"ciphertext_complete_at"`
	KeyReceivedAt        string `json:"key_received_at"`
	AccessAt             string `json:"access_at"`
	DecryptedAt          string `json:"decrypted_at"`
	SHA256               string `json:"sha256"`
	Shares               []int  `json:"shares"`
	ResumedBytes         int64  `json:"resumed_bytes"`
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func newReleaseFetchCmd(g *globals) *cobra.Command {
	var o struct {
		work, out, rate, client, edge, owner, deadline string
		edgeDecrypt, naive                             bool
	}
	cmd := &cobra.Command{
		Use:   "fetch --work ID --out FILE [--edge-decrypt] [--rate-limit RATE]",
		Short: "Fetch a released work: ciphertext ahead of time, then the key at the release time",
		Long: `Subscribes at your organisation's peer, downloads and verifies the ciphertext
with a progress bar (an interrupted run resumes from FILE.part), waits for the key
shares, verifies the key, decrypts, checks the content hash and reports the times
on chain. With --edge-decrypt a trusted edge sends the plaintext instead, timed to
arrive with everyone else's key. RATE is e.g. 56kbit, 10Mbit or 1.5MB/s.

Progress goes to stderr (also with --json): the download as a bar, then, while
the key is awaited, a line saying how long until the release time and how many
key shares have arrived of those needed, repeated as shares arrive and at
intervals that shorten as the release time nears (every 5 min when it is
hours away, every 5 s in the last half minute).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rate float64
			if o.rate != "" {
				var err error
				if rate, err = parseRate(o.rate); err != nil {
					return err
				}
			}
			var deadline time.Time
			if o.deadline != "" {
				var err error
				if deadline, err = parseWhen("deadline", o.deadline, time.Now()); err != nil {
					return err
				}
				if !deadline.After(time.Now()) {
					return usageErr("--deadline %s: must be in the future", deadline.UTC().Format(time.RFC3339))
				}
			}
			c, err := g.releaseClient()
			if err != nil {
				return err
			}
			label := "ciphertext"
			if o.edgeDecrypt || o.naive {
				label = "plaintext"
			}
			bar := &progressBar{w: g.progress(), label: label}
			waits := &keyWaitPrinter{w: g.progress(), now: time.Now}
			res, err := c.Fetch(cmd.Context(), crelease.FetchOptions{Work: o.work, Owner: o.owner, Out: o.out, EdgeDecrypt: o.edgeDecrypt || o.naive,
				Naive: o.naive, RateLimitBps: rate, Client: o.client, Edge: o.edge, Progress: bar.update, Deadline: deadline, Waiting: waits.wait})
			if err != nil {
				return err
			}
			out := fetchOutput{Work: res.Work, Client: res.Client, Edge: res.Edge, EdgeDecrypt: res.EdgeDecrypt,
				CiphertextCompleteAt: rfc(res.CiphertextCompleteAt), KeyReceivedAt: rfc(res.KeyReceivedAt), AccessAt: rfc(res.AccessAt),
				DecryptedAt: rfc(res.DecryptedAt), SHA256: res.SHA256, Shares: res.Shares, ResumedBytes: res.ResumedBytes}
			return g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "%s written (%s)\n", o.out, res.SHA256)
				if !res.EdgeDecrypt {
					fmt.Fprintf(w, "ciphertext complete %s\nkey received       %s (shares %v)\n", out.CiphertextCompleteAt, out.KeyReceivedAt, res.Shares)
				}
				fmt.Fprintf(w, "access             %s via %s\n", out.AccessAt, res.Edge)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.work, "work", "", "the work's ID")
	f.StringVar(&o.out, "out", "", "file to write the work to")
	f.BoolVar(&o.edgeDecrypt, "edge-decrypt", false, "receive plaintext from a trusted edge, timed to complete at the key send time")
	f.StringVar(&o.rate, "rate-limit", "", "cap the download rate, e.g. 56kbit, 10Mbit, 1.5MB/s")
	f.StringVar(&o.client, "client", "", "client name (default: a fresh name per fetch); a name another running fetch holds is refused")
	f.StringVar(&o.edge, "edge", "", "peer to fetch from (default: --peer, or a trusted edge for --edge-decrypt)")
	f.StringVar(&o.owner, "owner", "", "the release of this owner (default: the work's current owner)")
	f.StringVar(&o.deadline, "deadline", "", "give up waiting for the key at this time, RFC 3339 or +DURATION (default: the end time plus one minute)")
	f.BoolVar(&o.naive, "naive", false, "plain delivery from a trusted edge at the key send time, without staggering (for comparison)")
	_ = f.MarkHidden("naive")
	_ = cmd.MarkFlagRequired("work")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newReleaseStatusCmd(g *globals) *cobra.Command {
	var work, owner string
	cmd := &cobra.Command{
		Use:   "status --work ID",
		Short: "What every peer knows of a release now: ciphertext held, clients, key send time, key servers, shares",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.releaseClient()
			if err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			st, err := c.Status(ctx, work, owner)
			if err != nil {
				return err
			}
			return g.emit(st, func(w io.Writer) {
				r := st.Release
				fmt.Fprintf(w, "release %s of %s by %s: opens %s, ends %s, %d-of-%d shares\n", r.ID, r.Work, r.Owner, r.ReleaseAt, r.EndAt, r.Threshold, len(r.KeyServers))
				fmt.Fprintf(w, "shares published on chain: %d\n", len(st.Shares))
				tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PEER\tSTATE\tCHUNKS\tSEND AT\tSHARES\tCLIENTS\tSKEW\tREASON")
				for _, e := range st.Edges {
					if e.Status == nil {
						fmt.Fprintf(tw, "%s\tunreachable\t\t\t\t\t\t%s\n", e.Peer, e.Error)
						continue
					}
					s := e.Status
					send := ""
					if s.SendAt > 0 {
						send = rfc(time.Unix(0, s.SendAt))
					}
					fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%v\t%d\t%.0fms\t%s\n", e.Peer, s.State, s.ChunksHave, s.ChunksTotal, send, s.SharesHeld, len(s.Subscribers), s.ClockSkewMS, s.Reason)
				}
				tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&work, "work", "", "the work's ID")
	cmd.Flags().StringVar(&owner, "owner", "", "the release of this owner (default: the current owner)")
	_ = cmd.MarkFlagRequired("work")
	return cmd
}

func newReleaseReportCmd(g *globals) *cobra.Command {
	var work, owner string
	cmd := &cobra.Command{
		Use:   "report --work ID",
		Short: "The on-chain account of a release: per client ciphertext, key and access times; spread, early accesses, misses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.releaseClient()
			if err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			rep, err := c.Report(ctx, work, owner)
			if err != nil {
				return err
			}
			return g.emit(rep, func(w io.Writer) {
				fmt.Fprintf(w, "release %s of %s: opens %s, ends %s, %d-of-%d shares (%s)\n", rep.Release, rep.Work, rep.ReleaseAt, rep.EndAt, rep.Threshold, len(rep.KeyServers), strings.Join(rep.KeyServers, ", "))
				fmt.Fprintf(w, "shares published on chain: %d (before the release time: %d)\n", len(rep.SharesPublished), rep.SharesBeforeT)
				tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CLIENT\tEDGE\tCIPHERTEXT\tKEY\tACCESS\tAFTER T\tNOTE")
				for _, cl := range rep.Clients {
					after := ""
					if cl.AccessAfterReleaseMS != nil {
						after = fmt.Sprintf("%+.0fms", *cl.AccessAfterReleaseMS)
					}
					note := cl.Error
					if cl.EdgeDecrypt {
						note = strings.TrimSpace("edge decrypt " + note)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cl.Client, cl.Edge, cl.CiphertextCompleteAt, cl.KeyReceivedAt, cl.AccessAt, after, note)
				}
				tw.Flush()
				fmt.Fprintf(w, "spread %.0f ms, early accesses %d, missed the end time %d\n", rep.SpreadMS, rep.EarlyAccess, rep.MissedEnd)
				if !rep.Opened {
					fmt.Fprintf(w, "not opened: %s\n", rep.Reason)
				}
			})
		},
	}
	cmd.Flags().StringVar(&work, "work", "", "the work's ID")
	cmd.Flags().StringVar(&owner, "owner", "", "the release of this owner (default: the current owner)")
	_ = cmd.MarkFlagRequired("work")
	return cmd
}

func newReleaseBenchCmd(g *globals) *cobra.Command {
	var o releasebench.Options
	var out, contract, releaseContract, minRate, maxRate, from string
	var runs []string
	cmd := &cobra.Command{
		Use:   "bench --out DIR",
		Short: "The fairness experiment: naive vs Folio timed release over tc-shaped links (root, Linux)",
		Long: `Starts its own network (2 organisations, 1 peer each, 1 orderer) in DIR/net, creates
one network namespace per client with a veth link shaped by tc to a rate spread
log-uniformly from --min-rate to --max-rate, and runs, at the same time and each
with its own clients: (a) naive plaintext from the edges at T, (b) ciphertext ahead
and key at T, (c) ciphertext too late (key delayed towards E), (d) some clients
with trusted-edge decryption. It writes DIR/result.json, DIR/histogram.txt and
DIR/histogram.svg and prints the figures. Needs root and iproute2 (ip, tc);
scripts/bench-release.sh checks and installs them. With the defaults (100 clients,
10 MB, 56 kbit/s) it runs for about 30 minutes: the slowest link needs 24 minutes
for the work, in the naive run as in the ciphertext-ahead runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from != "" {
				raw, err := os.ReadFile(from)
				if err != nil {
					return fmt.Errorf("--from: %w", err)
				}
				var res releasebench.Result
				if err := json.Unmarshal(raw, &res); err != nil {
					return fmt.Errorf("--from %s: not an experiment result: %w", from, err)
				}
				releasebench.Resummarize(&res)
				return emitBench(g, &res, out, fmt.Sprintf("%.0fkbit", res.MinRate/1e3), fmt.Sprintf("%.0fMbit", res.MaxRate/1e6))
			}
			if err := checkRanges([]intFlag{{"clients", int64(o.Clients), 1, 1000}, {"edge-clients", int64(o.EdgeClients), 0, int64(o.Clients)},
				{"size", o.Size, 1, 1 << 40}}, nil); err != nil {
				return err
			}
			if err := releasebench.CheckTools(); err != nil {
				return fmt.Errorf("the fairness experiment cannot run here: %w", err)
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if o.ContractWasm, err = genesisWasm(contract, "--contract", genesiscontracts.Copyright); err != nil {
				return err
			}
			if o.ReleaseWasm, err = genesisWasm(releaseContract, "--release-contract", genesiscontracts.Release); err != nil {
				return err
			}
			if o.MinRate, err = parseRate(minRate); err != nil {
				return err
			}
			if o.MaxRate, err = parseRate(maxRate); err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			o.Dir, o.Exe, o.Runs, o.Progress = filepath.Join(out, "net"), exe, runs, g.progress()
			if _, err := os.Stat(o.Dir); err == nil {
				return fmt.Errorf("%s exists: remove it or choose another --out", o.Dir)
			}
			ctx, stop := signalContext()
			defer stop()
			res, err := releasebench.Experiment(ctx, o)
			if err != nil {
				return err
			}
			return emitBench(g, res, out, minRate, maxRate)
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "bench-release", "directory for the network and the results")
	f.StringVar(&contract, "contract", "", "the copyright contract's wasm (default: the copy built into folio)")
	f.StringVar(&releaseContract, "release-contract", "", "the timed-release contract's wasm (default: the copy built into folio)")
	f.IntVar(&o.Clients, "clients", 100, "clients per run, 1 to 1000")
	f.IntVar(&o.EdgeClients, "edge-clients", 30, "clients of run (d) using trusted-edge decryption, 0 to --clients")
	f.Int64Var(&o.Size, "size", 10_000_000, "bytes of the work, 1 to 1 TiB")
	f.StringVar(&minRate, "min-rate", "56kbit", "slowest client link")
	f.StringVar(&maxRate, "max-rate", "100Mbit", "fastest client link")
	f.StringSliceVar(&runs, "runs", []string{"a", "b", "c", "d"}, "runs to do")
	f.StringVar(&from, "from", "", "do not run: recompute and print the figures of a saved result.json (written again into --out)")
	return cmd
}

// emitBench writes the experiment's result, histogram and plot into out
// and prints the figures.
func emitBench(g *globals, res *releasebench.Result, out, minRate, maxRate string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	hist := releasebench.Histogram(res.Runs)
	for name, data := range map[string][]byte{"result.json": raw, "histogram.txt": []byte(hist), "histogram.svg": []byte(releasebench.SVG(res.Runs))} {
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
	}
	return g.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "fairness experiment: %d clients per run, %d-byte work, links %s .. %s\n", res.Clients, res.Size, minRate, maxRate)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tSPREAD\tFIRST\tLAST\tEARLY\tMISSED E\tACCESSED\tKEY AFTER T\tEDGE VS KEY\tWHAT")
		for _, r := range res.Runs {
			s := r.Summary
			edge := ""
			if s.EdgeVsKeyMS > 0 || s.EdgeSpreadMS > 0 {
				edge = fmt.Sprintf("%.0f ms", s.EdgeVsKeyMS)
			}
			fmt.Fprintf(tw, "(%s)\t%s\t%s\t%s\t%d\t%d\t%d/%d\t%s\t%s\t%s\n", r.Name, benchMS(s.SpreadMS), benchMS(s.FirstMS), benchMS(s.LastMS),
				s.Early, s.MissedEnd, s.Accessed, s.Clients, benchMS(s.KeyAfterMS), edge, r.Title)
		}
		tw.Flush()
		names := make([]string, 0, len(res.Targets))
		for name := range res.Targets {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(w, "target %-60s %v\n", name+":", res.Targets[name])
		}
		fmt.Fprintf(w, "\n%s\nwritten: %s, %s, %s\n", hist, filepath.Join(out, "result.json"), filepath.Join(out, "histogram.txt"), filepath.Join(out, "histogram.svg"))
	})
}

// benchMS formats milliseconds for the experiment's table.
func benchMS(ms float64) string {
	switch {
	case ms < 0:
		return "n/a"
	case ms >= 10000:
		return fmt.Sprintf("%.1f s", ms/1000)
	}
	return fmt.Sprintf("%.0f ms", ms)
}
