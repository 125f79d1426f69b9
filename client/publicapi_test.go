package client_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// The SDKs' exported API must be nameable by an application outside this
// module: no exported identifier of client/... or contract/... may mention
// a type of an internal package (Go forbids importing those from outside,
// so such a function could not be called with a value of one, nor a field
// of one be set). The test reads the compiler's export data of the public
// packages, which is exactly what an importing module sees.

// publicPackages are the module's importable SDKs.
var publicPackages = []string{"./client/...", "./contract/..."}

func TestPublicAPIMentionsNoInternalPackage(t *testing.T) {
	imp, pkgs := exportImporter(t, append(publicPackages, "./internal/identity")...)
	var public []string
	for _, p := range pkgs {
		if !strings.Contains(p, "/internal/") {
			public = append(public, p)
		}
	}
	if len(public) < 6 {
		t.Fatalf("found only %d public packages (%v): is the module root right?", len(public), public)
	}
	for _, path := range public {
		pkg, err := imp.Import(path)
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
		for _, leak := range internalMentions(pkg) {
			t.Errorf("%s: %s", path, leak)
		}
	}
}

// TestInternalMentionsFindsLeaks checks the checker on a package that
// leaks an internal type in each place an exported API can.
func TestInternalMentionsFindsLeaks(t *testing.T) {
	imp, _ := exportImporter(t, "./internal/identity")
	const src = `package leaky
import (
	"crypto/x509"
	"github.com/folio-ledger/folio/internal/identity"
)
type Fine struct{ Cert *x509.Certificate; hidden *identity.Identity }
func (Fine) Method() error { return nil }
func (Fine) unexported(*identity.Identity) {}
func Param(*identity.Identity) {}
func Result() []identity.Role { return nil }
type Field struct{ V map[string]*identity.Verifier }
type Embedded struct{ identity.Org }
type Iface interface{ M(identity.Role) }
func (Fine) LeakyMethod() identity.Principal { return identity.Principal{} }
var Var *identity.SigningIdentity
type Alias = identity.Org
func Generic[T any](func(identity.Role) T) {}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "leaky.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := (&types.Config{Importer: imp}).Check("leaky", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(internalMentions(pkg), "\n")
	for _, want := range []string{"Param", "Result", "Field.V", "Embedded.Org", "Iface.M", "Fine.LeakyMethod", "Var", "Alias", "Generic"} {
		if !strings.Contains(got, want+":") {
			t.Errorf("leak through %s not reported; report:\n%s", want, got)
		}
	}
	for _, fine := range []string{"Fine:", "Fine.Method", "hidden", "unexported"} {
		if strings.Contains(got, fine) {
			t.Errorf("%s reported although it exposes nothing; report:\n%s", fine, got)
		}
	}
}

// exportImporter builds the packages (and their dependencies) and returns
// an importer reading their export data, with the import paths of the
// packages named.
func exportImporter(t *testing.T, patterns ...string) (types.Importer, []string) {
	t.Helper()
	root := strings.TrimSuffix(goEnv(t, "GOMOD"), "/go.mod")
	cmd := exec.Command("go", append([]string{"list", "-export", "-deps", "-json=ImportPath,Export,DepOnly,Error"}, patterns...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	exports := map[string]string{}
	var named []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath, Export string
			DepOnly            bool
			Error              *struct{ Err string }
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		exports[p.ImportPath] = p.Export
		if !p.DepOnly {
			named = append(named, p.ImportPath)
		}
	}
	sort.Strings(named)
	fset := token.NewFileSet()
	return importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	}), named
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}

// internalMentions lists "Name: type" for every exported identifier of pkg
// whose type, fields, methods or type parameters name an internal
// package's type.
func internalMentions(pkg *types.Package) []string {
	var out []string
	report := func(name string, t types.Type) {
		if leak := findInternal(t, map[types.Type]bool{}); leak != "" {
			out = append(out, fmt.Sprintf("%s: %s", name, leak))
		}
	}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		tn, isType := obj.(*types.TypeName)
		if !isType {
			report(name, obj.Type())
			continue
		}
		if tn.IsAlias() {
			report(name, types.Unalias(obj.Type()))
			continue
		}
		named, ok := obj.Type().(*types.Named)
		if !ok {
			continue
		}
		if tp := named.TypeParams(); tp != nil {
			for i := 0; i < tp.Len(); i++ {
				report(name, tp.At(i).Constraint())
			}
		}
		switch u := named.Underlying().(type) {
		case *types.Struct:
			for i := 0; i < u.NumFields(); i++ {
				// Embedded fields promote their exported fields and
				// methods even when the field itself is unexported.
				if f := u.Field(i); f.Exported() || f.Embedded() {
					report(name+"."+f.Name(), f.Type())
				}
			}
		case *types.Interface:
			for i := 0; i < u.NumMethods(); i++ {
				if m := u.Method(i); m.Exported() {
					report(name+"."+m.Name(), m.Type())
				}
			}
		default:
			report(name, u)
		}
		for i := 0; i < named.NumMethods(); i++ {
			if m := named.Method(i); m.Exported() {
				report(name+"."+m.Name(), m.Type())
			}
		}
	}
	return out
}

// findInternal returns the first internal type t mentions, or "". Named
// types of other packages are not descended into: their own exported API
// is theirs (a public package's type may hold internal state privately).
func findInternal(t types.Type, seen map[types.Type]bool) string {
	if t == nil || seen[t] {
		return ""
	}
	seen[t] = true
	switch t := t.(type) {
	case *types.Alias:
		return findInternal(types.Unalias(t), seen)
	case *types.Named:
		if p := t.Obj().Pkg(); p != nil && strings.Contains(p.Path()+"/", "/internal/") {
			return p.Path() + "." + t.Obj().Name()
		}
		if args := t.TypeArgs(); args != nil {
			for i := 0; i < args.Len(); i++ {
				if s := findInternal(args.At(i), seen); s != "" {
					return s
				}
			}
		}
		return ""
	case *types.Pointer:
		return findInternal(t.Elem(), seen)
	case *types.Slice:
		return findInternal(t.Elem(), seen)
	case *types.Array:
		return findInternal(t.Elem(), seen)
	case *types.Chan:
		return findInternal(t.Elem(), seen)
	case *types.Map:
		if s := findInternal(t.Key(), seen); s != "" {
			return s
		}
		return findInternal(t.Elem(), seen)
	case *types.Signature:
		if tp := t.TypeParams(); tp != nil {
			for i := 0; i < tp.Len(); i++ {
				if s := findInternal(tp.At(i).Constraint(), seen); s != "" {
					return s
				}
			}
		}
		for _, tup := range []*types.Tuple{t.Params(), t.Results()} {
			for i := 0; i < tup.Len(); i++ {
				if s := findInternal(tup.At(i).Type(), seen); s != "" {
					return s
				}
			}
		}
	case *types.Struct:
		for i := 0; i < t.NumFields(); i++ {
			if f := t.Field(i); f.Exported() || f.Embedded() {
				if s := findInternal(f.Type(), seen); s != "" {
					return s
				}
			}
		}
	case *types.Interface:
		for i := 0; i < t.NumMethods(); i++ {
			if s := findInternal(t.Method(i).Type(), seen); s != "" {
				return s
			}
		}
		for i := 0; i < t.NumEmbeddeds(); i++ {
			if s := findInternal(t.EmbeddedType(i), seen); s != "" {
				return s
			}
		}
	case *types.TypeParam:
		return findInternal(t.Constraint(), seen)
	case *types.Union:
		for i := 0; i < t.Len(); i++ {
			if s := findInternal(t.Term(i).Type(), seen); s != "" {
				return s
			}
		}
	}
	return ""
}
