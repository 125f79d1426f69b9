package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// The explorer's browser tests: one real network, one `folio explorer`
// process, one headless Chromium (Debian's chromium, which
// scripts/install-test-deps.sh installs when make test runs as root)
// driven over the DevTools protocol. They open every page, click through
// the links a user would follow, hash a file in the page, watch a block
// arrive live over Server-Sent Events, and see a stopped peer marked.
// Screenshots of the pages go to $FOLIO_ARTEFACTS when it is set (a
// temporary directory otherwise); docs/explorer/*.png are a few of them.

// chromiumPath finds the system browser, or "" when there is none.
func chromiumPath() string {
	if p := os.Getenv("FOLIO_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artefactDir is where screenshots and the explorer's log are written.
func artefactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FOLIO_ARTEFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// explorerProc is a running `folio explorer`.
type explorerProc struct {
	base string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	done chan error
}

var listeningLine = regexp.MustCompile(`^explorer listening on (http://\S+) `)

// startExplorer runs `folio explorer` on a free loopback port and returns
// once it says it listens; it is stopped (SIGTERM, then SIGKILL) when the
// test ends. The port is found by listening on :0 and closing: another
// process may take it in between, so a start that fails before its
// "listening" line is retried on a new port.
func startExplorer(t *testing.T, n *network, logPath string) *explorerProc {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		p, err := tryExplorer(n, addr, logFile)
		if err == nil {
			t.Cleanup(func() { p.stop(t) })
			return p
		}
		lastErr = err
		t.Logf("explorer on %s did not start (attempt %d): %v", addr, attempt+1, err)
	}
	t.Fatalf("folio explorer did not start: %v (log: %s)", lastErr, logPath)
	return nil
}

func tryExplorer(n *network, addr string, log io.Writer) (*explorerProc, error) {
	cmd := exec.Command(folioBin, "--network", n.dir, "explorer", "--addr", addr)
	cmd.Env = append(os.Environ(), n.env...)
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &explorerProc{cmd: cmd, done: make(chan error, 1)}
	found := make(chan string, 1)
	go func() {
		// Read stdout to its end, so the explorer never blocks writing it.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(log, "stdout:", sc.Text())
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	select {
	case p.base = <-found:
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("exited before listening: %v", err)
	case <-timeout.C:
		_ = cmd.Process.Kill()
		<-p.done
		return nil, errors.New("no \"explorer listening on\" line within 60s")
	}
}

// stop ends the explorer as a user's Ctrl-C would, and kills it if it
// does not end in time.
func (p *explorerProc) stop(t *testing.T) {
	// Its memory, as a figure for docs/explorer.md's budget (150 MB RSS):
	// read from /proc while it still runs.
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
		var mem []string
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmRSS:") || strings.HasPrefix(line, "VmHWM:") {
				mem = append(mem, strings.Join(strings.Fields(line), " "))
			}
		}
		t.Logf("folio explorer process memory: %s", strings.Join(mem, ", "))
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timeout := time.NewTimer(15 * time.Second)
	defer timeout.Stop()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("folio explorer after SIGTERM: %v", err)
		}
	case <-timeout.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("folio explorer did not stop within 15s of SIGTERM; killed")
	}
}

// tab is one browser tab on the explorer, with bounded steps.
type tab struct {
	t    *testing.T
	ctx  context.Context // the tab's context; steps derive timeouts from it
	base string
	art  string
}

// stepTimeout bounds one browser step (a navigation, a query, a click).
const stepTimeout = 20 * time.Second

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is true in the page,
// evaluating it from the test (chromedp.Poll compiles its predicate with
// new Function, which the explorer's Content-Security-Policy forbids).
// An evaluation that fails, as one does while the page navigates, counts
// as not yet.
func (b *tab) waitJS(what, expr string, timeout time.Duration) {
	b.t.Helper()
	err := retry(timeout, func() error {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s is false", expr)
		}
		return nil
	})
	if err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("browser: %s: not true after %s: %v (page %s)", what, timeout, err, loc)
	}
}

// waitPage reloads a page until a JavaScript expression is true on it:
// for pages that are not live (the network view reads the nodes at each
// request).
func (b *tab) waitPage(what, path, expr string, timeout time.Duration) {
	b.t.Helper()
	err := retry(timeout, func() error {
		ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate(b.base+path)); err != nil {
			return err
		}
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s is false", expr)
		}
		return nil
	})
	if err != nil {
		b.t.Fatalf("browser: %s: not true on %s after %s: %v", what, path, timeout, err)
	}
}

// getJSON decodes an explorer API answer.
func getJSON(url string, v any) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// open loads a page and returns its HTTP status.
func (b *tab) open(path string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("browser: open %s: %v", path, err)
	}
	if resp == nil {
		b.t.Fatalf("browser: open %s: no response", path)
	}
	return resp.Status
}

// text is the visible text of the first element matching a CSS selector.
func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: text of %s: %v", sel, err)
	}
	return s
}

// click clicks a link and waits for the next page to load.
func (b *tab) click(sel string) {
	b.t.Helper()
	before := eval[string](b, `location.href`)
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	b.waitJS("the page after clicking "+sel,
		fmt.Sprintf(`location.href !== %q && document.readyState === "complete"`, before), stepTimeout)
}

// shot saves a full-page PNG screenshot as NAME.png in the artefacts.
func (b *tab) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.art, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// mustContain fails unless the page's main text contains every want.
func (b *tab) mustContain(what string, wants ...string) string {
	b.t.Helper()
	got := b.text("main")
	for _, w := range wants {
		if !strings.Contains(got, w) {
			b.t.Fatalf("%s: the page does not show %q:\n%s", what, w, clipText(got))
		}
	}
	return got
}

func clipText(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

// newTab starts a headless Chromium for the test (its own profile, no
// sandbox when root, as in a container) and opens one tab.
func newTab(t *testing.T, base, art string) *tab {
	t.Helper()
	path := chromiumPath()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
		// The browser's start is bounded by how long it may take to say
		// where its DevTools endpoint is (generous: CI runs packages in
		// parallel).
		chromedp.WSURLReadTimeout(60*time.Second),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run its sandbox as root.
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	// The first Run starts the browser and binds it to ctx: no timeout on
	// it (a timeout would end the browser); WSURLReadTimeout bounds it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return &tab{t: t, ctx: ctx, base: base, art: art}
}

// TestExplorerBrowser drives the Folio Explorer in headless Chromium
// against a real local network.
func TestExplorerBrowser(t *testing.T) {
	if chromiumPath() == "" {
		t.Skip("chromium is not installed: the explorer browser tests need Debian's chromium " +
			"(scripts/install-test-deps.sh installs it when run as root; make test runs it)")
	}
	art := artefactDir(t)
	t.Logf("screenshots and the explorer's log: %s", art)

	n := newCopyrightNet(t)
	song, content := filepath.Join(t.TempDir(), "song.txt"), []byte("la la la, a song to find by its content\n")
	if err := os.WriteFile(song, content, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	songHash := "sha256:" + hex.EncodeToString(sum[:])

	var reg, moved, second, third submitted
	n.json(&reg, "work", "register", "--id", "EXP-1", "--title", "Harbour Lights", "--author", "Ann Writer", "--type", "audio", "--file", song)
	n.json(&moved, "work", "transfer", "--id", "EXP-1", "--to", "user1@Org2")
	n.json(&second, "work", "register", "--id", "EXP-2", "--title", "Northern Road", "--author", "Ann Writer", "--hash", "sha256:"+strings.Repeat("2", 64))
	n.json(&third, "work", "register", "--id", "EXP-3", "--title", "Field Notes", "--author", "Bo Poet", "--type", "text", "--hash", "sha256:"+strings.Repeat("3", 64), "--as", "user1@Org2")
	for _, s := range []submitted{reg, moved, second, third} {
		if s.Status != "VALID" {
			t.Fatalf("setup transaction not VALID: %+v", s)
		}
	}

	ex := startExplorer(t, n, filepath.Join(art, "explorer.log"))
	t.Logf("explorer at %s", ex.base)
	b := newTab(t, ex.base, art)

	// The index catches up in the background: wait until it has the last
	// setup block before asserting on pages.
	eventually(t, 60*time.Second, "the explorer's index reaches block "+strconv.FormatUint(third.Block, 10), func() error {
		var st struct {
			Height uint64 `json:"height"`
		}
		if err := getJSON(ex.base+"/api/stats", &st); err != nil {
			return err
		}
		if st.Height <= third.Block {
			return fmt.Errorf("index height %d", st.Height)
		}
		return nil
	})

	t.Run("pages", func(t *testing.T) {
		b := *b
		b.t = t
		pages := []struct {
			path, shot string
			status     int64
			want       []string
		}{
			{"/", "dashboard", 200, []string{"Height", "Transactions per second", "Latest blocks", "Org1MSP"}},
			{"/blocks", "blocks", 200, []string{"Newest first", strconv.FormatUint(reg.Block, 10)}},
			{"/blocks/" + strconv.FormatUint(reg.Block, 10), "block", 200, []string{"Header hash", "State root", "Orderer signatures", "copyright.register", "VALID"}},
			{"/tx/" + reg.TxID, "tx", 200, []string{reg.TxID, "user1@Org1", "copyright.register", "VALID", "Endorsed by", "Write set", "work EXP-1"}},
			{"/works", "works", 200, []string{"EXP-1", "EXP-2", "EXP-3", "Harbour Lights"}},
			{"/works/EXP-1", "work", 200, []string{"Harbour Lights", "Ann Writer", "user1@Org2", songHash, "Provenance", "register", "transfer"}},
			{"/works/EXP-1/evidence", "evidence", 200, []string{"The evidence verifies", "format", "trust"}},
			{"/search?q=" + "Ann+Writer", "search", 200, []string{"2 results", "EXP-1", "EXP-2"}},
			{"/no/such/page", "notfound", 404, []string{"404", "/no/such/page"}},
			{"/works/NO-SUCH-WORK", "work-notfound", 404, []string{"NO-SUCH-WORK"}},
			{"/search?q=nothing-matches-this", "search-empty", 404, []string{"Nothing matches"}},
		}
		for _, p := range pages {
			if got := b.open(p.path); got != p.status {
				t.Errorf("%s: HTTP %d, want %d", p.path, got, p.status)
			}
			b.mustContain(p.path, p.want...)
			b.shot(p.shot)
		}
		// The sections read the network rather than the index.
		for _, s := range []struct {
			path string
			want []string
		}{
			{"/network", []string{"peer0.org1", "peer1.org2", "orderer0", "leader", "Certificates", "admin@Org1"}},
			{"/contracts", []string{"copyright", "release", "AND('Org1MSP.peer', 'Org2MSP.peer')", "peer1.org2"}},
			{"/releases", []string{"No timed release"}},
		} {
			if got := b.open(s.path); got != 200 {
				t.Errorf("%s: HTTP %d", s.path, got)
			}
			b.shot(strings.TrimPrefix(s.path, "/"))
			if strings.Contains(b.text("main"), "Not configured") {
				t.Errorf("%s: the section is not configured (cmd/folio/explorer_views.go sets explorerSections)", s.path)
				continue
			}
			b.mustContain(s.path, s.want...)
		}
	})

	t.Run("search and follow links", func(t *testing.T) {
		b := *b
		b.t = t
		b.open("/")
		// The nav search box: a registration number goes straight to the work.
		b.do("search EXP-1",
			chromedp.SendKeys(chromedp.CSS(`header input[name="q"]`), "EXP-1", chromedp.NodeVisible),
			chromedp.Submit(chromedp.CSS(`header input[name="q"]`)),
		)
		b.waitJS("the search lands on the work", `location.pathname === "/works/EXP-1" && document.readyState === "complete"`, stepTimeout)
		b.mustContain("work page", "Harbour Lights")
		// work -> the block of its last change -> a transaction of it ->
		// the work it wrote -> its provenance -> the registering transaction.
		b.click(`table.kv a[href^="/blocks/"]`)
		b.mustContain("block of the last change", "Block "+strconv.FormatUint(moved.Block, 10), "copyright.transfer")
		b.click(`main table a[href^="/tx/"]`)
		b.mustContain("transfer transaction", moved.TxID, "copyright.transfer", "user1@Org1")
		b.click(`main a[href="/works/EXP-1"]`)
		b.mustContain("work from the write set", "Provenance")
		b.shot("work-provenance")
		entries := eval[[]string](&b, `Array.from(document.querySelectorAll("ol.timeline > li strong")).map(e => e.textContent)`)
		if strings.Join(entries, ",") != "register,transfer" {
			t.Fatalf("provenance timeline: %q, want register then transfer", entries)
		}
		b.click(`ol.timeline > li:first-child a[href^="/tx/"]`)
		b.mustContain("registering transaction", reg.TxID, "copyright.register")
		if loc := eval[string](&b, `location.pathname`); loc != "/tx/"+reg.TxID {
			t.Fatalf("provenance link led to %s, want /tx/%s", loc, reg.TxID)
		}
	})

	t.Run("evidence", func(t *testing.T) {
		b := *b
		b.t = t
		b.open("/works/EXP-1")
		b.click(`a[href="/works/EXP-1/evidence"]`)
		main := b.mustContain("evidence page", "The evidence verifies")
		checks := eval[[]string](&b, `Array.from(document.querySelectorAll("ol.checks > li")).map(e => e.className + " " + e.textContent)`)
		if len(checks) < 5 {
			t.Fatalf("the evidence page lists %d checks, want every check of the verification:\n%s", len(checks), main)
		}
		for _, c := range checks {
			if !strings.HasPrefix(c, "ok ") {
				t.Errorf("check not ok: %s", c)
			}
		}
		t.Logf("evidence: %d checks shown, all ok", len(checks))
		b.shot("evidence")

		// Click the download link; Chromium saves the file, which must be
		// a folio-evidence/2 bundle that `folio evidence verify` accepts.
		dl := t.TempDir()
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		progress := chromedp.Events(ctx, browser.DownloadProgress)
		b.do("download the bundle",
			chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
					Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: ptrTo(true),
				})
				return err
			}),
			chromedp.Click(chromedp.CSS(`a[href="/works/EXP-1/evidence/bundle"]`), chromedp.NodeVisible),
		)
		var file string
		for ev, err := range progress {
			if err != nil {
				t.Fatalf("download: %v", err)
			}
			if ev.State == browser.DownloadProgressStateCanceled {
				t.Fatalf("download canceled")
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				file = filepath.Join(dl, ev.GUID)
				break
			}
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var bundle struct {
			Format string `json:"format"`
		}
		if err := json.Unmarshal(data, &bundle); err != nil || bundle.Format != "folio-evidence/2" {
			t.Fatalf("downloaded bundle: format %q, err %v", bundle.Format, err)
		}
		var verified struct {
			Valid bool `json:"valid"`
		}
		n.json(&verified, "evidence", "verify", file)
		if !verified.Valid {
			t.Fatalf("folio evidence verify of the downloaded bundle: not valid")
		}
		t.Logf("downloaded bundle: %d bytes, folio-evidence/2, verifies offline", len(data))
	})

	t.Run("hash a file in the page", func(t *testing.T) {
		b := *b
		b.t = t
		b.open("/works")
		// app.js reveals the file input once it can hash (crypto.subtle).
		b.waitJS("the file hashing box", `!document.getElementById("hash-file").hidden`, stepTimeout)
		b.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS("#hash-file-input"), []string{song}))
		b.waitJS("the search by the file's hash",
			fmt.Sprintf(`location.search === %q && document.readyState === "complete"`, "?hash="+songHash), stepTimeout)
		b.mustContain("works with the file's hash", "EXP-1", "Harbour Lights")
		if got := eval[int](&b, `document.querySelectorAll("main tbody tr").length`); got != 1 {
			t.Fatalf("the file's hash matches %d works, want 1 (EXP-1)", got)
		}
		b.shot("works-by-file")
	})

	t.Run("live update", func(t *testing.T) {
		b := *b
		b.t = t
		for _, page := range []string{"/", "/blocks"} {
			b.open(page)
			b.waitJS("the live stream on "+page, `document.getElementById("live-status").textContent.startsWith("live")`, stepTimeout)
			// Record when each block row appears, in the page's clock
			// (the machine's, as the block's orderer time is).
			eval[chromedp.Void](&b, `(() => {
				window.__seen = {};
				new MutationObserver(() => {
					document.querySelectorAll("[data-live-blocks] a[href^='/blocks/']").forEach(a => {
						const n = a.getAttribute("href").slice(8);
						if (!(n in window.__seen)) window.__seen[n] = Date.now();
					});
				}).observe(document.body, {childList: true, subtree: true});
			})()`)
			id := "EXP-LIVE" + strings.ReplaceAll(page, "/", "-")
			var live submitted
			n.json(&live, "work", "register", "--id", id, "--title", "Live", "--author", "Cy Live", "--hash", "sha256:"+strings.Repeat("4", 63)+strconv.Itoa(len(page)))
			returned := time.Now()
			num := strconv.FormatUint(live.Block, 10)
			b.waitJS("block "+num+" appears on "+page+" without reload",
				fmt.Sprintf(`%q in (window.__seen || {})`, num), 20*time.Second)
			seen := eval[int64](&b, fmt.Sprintf(`window.__seen[%q]`, num))
			var blk struct {
				Time time.Time `json:"time"`
			}
			if err := getJSON(ex.base+"/api/blocks/"+num, &blk); err != nil {
				t.Fatal(err)
			}
			t.Logf("live lag on %s: block %s shown %v after its orderer time, %v after the CLI returned",
				page, num, time.UnixMilli(seen).Sub(blk.Time).Round(time.Millisecond), time.UnixMilli(seen).Sub(returned).Round(time.Millisecond))
			if page == "/" {
				// The figures follow the same events.
				got := b.text(`[data-stat="height"]`)
				if h, err := strconv.ParseUint(regexp.MustCompile(`\D`).ReplaceAllString(got, ""), 10, 64); err != nil || h <= live.Block {
					t.Errorf("dashboard height shows %q after block %s was shown", got, num)
				}
				b.shot("dashboard-live")
			}
		}
	})

	t.Run("stopped peer", func(t *testing.T) {
		b := *b
		b.t = t
		const victim = "peer1.org2"
		b.open("/network")
		// The peer's State cell in the nodes table (the first row that
		// starts with its name), or its whole row if there is no such column.
		state := `(() => {
			const r = Array.from(document.querySelectorAll("main tr")).find(r => r.cells.length && r.cells[0].textContent.trim() === "` + victim + `");
			if (!r) return "";
			const col = Array.from(r.closest("table").querySelectorAll("thead th")).findIndex(th => th.textContent.trim() === "State");
			return (col >= 0 && r.cells[col] ? r.cells[col] : r).textContent.trim().toLowerCase();
		})()`
		b.mustContain("network page", victim)
		b.shot("network")
		n.must("network", "stop", victim)
		restart := true
		t.Cleanup(func() {
			if restart {
				if r, err := n.run("network", "start", victim); err != nil {
					t.Errorf("restart %s: %v\n%s", victim, err, r)
				}
			}
		})
		b.waitPage(victim+" marked down", "/network", `/unreachable|stopped|down/.test(`+state+`)`, 60*time.Second)
		b.shot("network-peer-stopped")
		restart = false
		n.must("network", "start", victim)
		b.waitPage(victim+" up again", "/network", `(s => /\bup\b/.test(s) && !/unreachable|stopped|down/.test(s))(`+state+`)`, 60*time.Second)
	})
}

func ptrTo[T any](v T) *T { return &v }
