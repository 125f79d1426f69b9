package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every environment override, e.g. FOLIO_LISTEN_API for
// the field listen.api.
const EnvPrefix = "FOLIO_"

// Fields lists the dotted paths of every overridable (scalar) field of a
// configuration struct, e.g. "listen.api", "log.level".
func Fields(cfg any) []string {
	var out []string
	walk(reflect.TypeOf(cfg).Elem(), "", func(path string, _ []int) { out = append(out, path) })
	sort.Strings(out)
	return out
}

// EnvName is the environment variable that overrides a field path.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_").Replace(path))
}

// EnvOverrides returns the overrides present in the environment for cfg's
// fields, looked up with lookup (os.LookupEnv in cmd/).
func EnvOverrides(cfg any, lookup func(string) (string, bool)) map[string]string {
	out := map[string]string{}
	for _, f := range Fields(cfg) {
		if v, ok := lookup(EnvName(f)); ok {
			out[f] = v
		}
	}
	return out
}

// Apply sets fields of cfg (a pointer to a config struct) from a map of
// dotted path -> value. Unknown paths and unparsable values are errors.
func Apply(cfg any, overrides map[string]string) error {
	if len(overrides) == 0 {
		return nil
	}
	index := map[string][]int{}
	root := reflect.ValueOf(cfg).Elem()
	walk(root.Type(), "", func(path string, idx []int) { index[path] = idx })
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		idx, ok := index[k]
		if !ok {
			return fmt.Errorf("override %q: no such field (known: %s)", k, strings.Join(Fields(cfg), ", "))
		}
		if err := setScalar(root.FieldByIndex(idx), overrides[k]); err != nil {
			return fmt.Errorf("override %s=%q: %w", k, overrides[k], err)
		}
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

func walk(t reflect.Type, prefix string, visit func(path string, idx []int)) {
	var rec func(t reflect.Type, prefix string, idx []int)
	rec = func(t reflect.Type, prefix string, idx []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			path := tag
			if prefix != "" {
				path = prefix + "." + tag
			}
			fidx := append(append([]int(nil), idx...), i)
			switch {
			case f.Type == durationType:
				visit(path, fidx)
			case f.Type.Kind() == reflect.Struct:
				rec(f.Type, path, fidx)
			case f.Type.Kind() == reflect.String, f.Type.Kind() == reflect.Int, f.Type.Kind() == reflect.Uint32, f.Type.Kind() == reflect.Bool:
				visit(path, fidx)
			}
		}
	}
	rec(t, prefix, nil)
}

func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as 250ms or 5s")
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("want an integer")
		}
		v.SetInt(int64(n))
	case reflect.Uint32:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return fmt.Errorf("want a non-negative integer")
		}
		v.SetUint(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("field of type %s cannot be overridden", v.Type())
	}
	return nil
}
