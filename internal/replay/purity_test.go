package replay

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The consensus-critical code: what decides a validation code or a state
// root. DESIGN 6: it is a pure function of the genesis block and the blocks
// before it, so it never reads a wall clock or the environment. Paths are
// relative to the module root; a directory means its non-test .go files
// (not its subdirectories: internal/lifecycle/installer runs beside the
// committer, at admission, and is not consensus-critical).
var consensusCritical = []string{
	"internal/validate",
	"internal/commit",
	"internal/lifecycle",
	"internal/channel",
	"internal/deliver/verify.go",
}

// impure lists, by import path, the functions whose use makes a result
// depend on when or where it is computed.
var impure = map[string]map[string]bool{
	"time": {"Now": true, "Since": true, "Until": true},
	"github.com/folio-ledger/folio/internal/clock": {"Now": true, "Offset": true},
	"os": {"Getenv": true, "LookupEnv": true, "Environ": true},
	// A verifier built by NewVerifier checks validity periods against the
	// admission clock; block validation uses the chain's verifier.
	"github.com/folio-ledger/folio/internal/identity": {"NewVerifier": true},
}

// allowedImpure is the allow-list: file, enclosing function, use, how
// many times, and why the value never reaches an outcome.
var allowedImpure = []struct {
	file, fn, use string
	count         int
	why           string
}{
	{"internal/commit/commit.go", "(*Committer).Accept", "time.Now", 1,
		"start := time.Now() measures how long a commit took, for the debug log line only"},
	{"internal/commit/commit.go", "(*Committer).Accept", "time.Since", 1,
		"the commit duration in the debug log line only"},
}

// impureUse is one use of an impure function.
type impureUse struct {
	file, fn, use string
	pos           token.Position
}

// findImpure reports every reference (call or value) to an impure
// function in one parsed file.
func findImpure(fset *token.FileSet, file *ast.File, name string) ([]impureUse, error) {
	local := map[string]string{} // name the file uses -> import path
	for _, imp := range file.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if impure[path] == nil {
			continue
		}
		n := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			n = imp.Name.Name
		}
		if n == "." {
			return nil, fmt.Errorf("%s dot-imports %s: the guard cannot see its uses; import it by name", name, path)
		}
		local[n] = path
	}
	var out []impureUse
	for _, decl := range file.Decls {
		fn := "package scope"
		if fd, ok := decl.(*ast.FuncDecl); ok {
			fn = funcName(fd)
		}
		ast.Inspect(decl, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok || id.Obj != nil { // a local variable, not a package
				return true
			}
			path, ok := local[id.Name]
			if ok && impure[path][sel.Sel.Name] {
				base := path[strings.LastIndex(path, "/")+1:]
				out = append(out, impureUse{file: name, fn: fn, use: base + "." + sel.Sel.Name, pos: fset.Position(sel.Pos())})
			}
			return true
		})
	}
	return out, nil
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if idx, ok := t.(*ast.IndexExpr); ok { // generic receiver
		t = idx.X
	}
	switch r := t.(type) {
	case *ast.StarExpr:
		if idx, ok := r.X.(*ast.IndexExpr); ok {
			return fmt.Sprintf("(*%s).%s", idx.X.(*ast.Ident).Name, fd.Name.Name)
		}
		return fmt.Sprintf("(*%s).%s", r.X.(*ast.Ident).Name, fd.Name.Name)
	case *ast.Ident:
		return r.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// consensusFiles lists the files the guard parses.
func consensusFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	for _, p := range consensusCritical {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, ".go") {
			if _, err := os.Stat(full); err != nil {
				t.Fatalf("consensus-critical file %s: %v (moved? update consensusCritical)", p, err)
			}
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(full)
		if err != nil {
			t.Fatalf("consensus-critical package %s: %v (moved? update consensusCritical)", p, err)
		}
		n := 0
		for _, e := range entries {
			if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
				files = append(files, p+"/"+e.Name())
				n++
			}
		}
		if n == 0 {
			t.Fatalf("consensus-critical package %s has no Go files (moved? update consensusCritical)", p)
		}
	}
	return files
}

// TestConsensusCodeReadsNoClock parses the consensus-critical packages and
// fails on any use of a wall clock or the environment outside the
// allow-list (and on allow-list entries that no longer match, so the list
// stays exact).
func TestConsensusCodeReadsNoClock(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	found := map[string][]impureUse{} // file|fn|use -> uses
	files := consensusFiles(t, root)
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(root, filepath.FromSlash(name)), nil, 0) // with object resolution: a local variable shadowing a package is not a use
		if err != nil {
			t.Fatal(err)
		}
		uses, err := findImpure(fset, f, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range uses {
			k := u.file + "|" + u.fn + "|" + u.use
			found[k] = append(found[k], u)
		}
	}
	allowed := map[string]int{}
	for _, a := range allowedImpure {
		allowed[a.file+"|"+a.fn+"|"+a.use] = a.count
	}
	var bad []string
	for k, uses := range found {
		if n := allowed[k]; len(uses) > n {
			for _, u := range uses {
				bad = append(bad, fmt.Sprintf("%s: %s in %s reads the clock or the environment (allowed there: %d)", u.pos, u.use, u.fn, n))
			}
		}
	}
	for _, a := range allowedImpure {
		if n := len(found[a.file+"|"+a.fn+"|"+a.use]); n < a.count {
			bad = append(bad, fmt.Sprintf("allow-list entry %s %s %s expects %d uses, found %d: update allowedImpure", a.file, a.fn, a.use, a.count, n))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("consensus-critical code must not depend on when or where it runs (DESIGN 6): validate with the block's timestamp or check at admission, "+
			"or, for a measurement that never reaches an outcome, add it to allowedImpure with the reason:\n  %s", strings.Join(bad, "\n  "))
	}
	t.Logf("checked %d files", len(files))
}

// TestPurityGuardFinds: the guard sees calls, function values, aliased
// imports and uses inside closures, and ignores local variables and other
// packages' functions of the same name.
func TestPurityGuardFinds(t *testing.T) {
	src := `package p

import (
	"os"
	tm "time"
	"github.com/folio-ledger/folio/internal/clock"
	"github.com/folio-ledger/folio/internal/identity"
)

var start = tm.Now()

type V struct{ now func() tm.Time }

func (v *V) check() bool {
	if os.Getenv("X") != "" {
		return false
	}
	f := func() tm.Duration { return tm.Since(start) }
	_ = f
	return clock.Now().IsZero()
}

func newV() *V {
	_, _ = identity.NewVerifier(nil, nil)
	_, _ = identity.NewChainVerifier(nil)
	return &V{now: tm.Now}
}

func local() {
	type clockT struct{ Now int }
	var time clockT
	_ = time.Now
	var os struct{ Getenv func(string) string }
	_ = os.Getenv
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	uses, err := findImpure(fset, f, "p.go")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range uses {
		got = append(got, u.fn+":"+u.use)
	}
	want := "package scope:time.Now (*V).check:os.Getenv (*V).check:time.Since (*V).check:clock.Now newV:identity.NewVerifier newV:time.Now"
	if strings.Join(got, " ") != want {
		t.Fatalf("found %v\nwant  %s", got, want)
	}
	dot, _ := parser.ParseFile(fset, "d.go", "package p\nimport . \"time\"\nvar x = Now()\n", 0)
	if _, err := findImpure(fset, dot, "d.go"); err == nil {
		t.Fatal("a dot import of time was not refused")
	}
}
