package main

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// envPrefix starts every environment override: TIDINGS_DATABASE_DSN sets
// [database] dsn. Lists are comma-separated.
const envPrefix = "TIDINGS_"

// envNotKeys are TIDINGS_ variables that are not config keys.
var envNotKeys = []string{"TIDINGS_CONFIG", "TIDINGS_TEST_"}

// defaultConfigFile is read when it exists and no other file is named.
const defaultConfigFile = "tidings.toml"

// loadConfig builds the configuration from defaults, then the file (path,
// else $TIDINGS_CONFIG, else ./tidings.toml if present), then the
// environment, and validates it. It reports every problem at once.
func loadConfig(path string, environ []string) (Config, string, error) {
	cfg := DefaultConfig()
	path, err := configPath(path, environ)
	if err != nil {
		return cfg, path, err
	}
	var errs []error
	if path != "" {
		errs = append(errs, decodeFile(path, &cfg)...)
	}
	errs = append(errs, applyEnv(&cfg, environ)...)
	cfg.resolve()
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		where := "configuration"
		if path != "" {
			where = path
		}
		return cfg, path, &configError{where: where, err: errors.Join(errs...)}
	}
	return cfg, path, nil
}

// configError marks invalid configuration (exit code 5).
type configError struct {
	where string
	err   error
}

func (e *configError) Error() string {
	return fmt.Sprintf("%s:\n  %s", e.where, strings.ReplaceAll(e.err.Error(), "\n", "\n  "))
}
func (e *configError) Unwrap() error { return e.err }

func configPath(path string, environ []string) (string, error) {
	if path == "" {
		path = lookupEnv(environ, "TIDINGS_CONFIG")
	}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return path, &configError{where: path, err: err}
		}
		return path, nil
	}
	if _, err := os.Stat(defaultConfigFile); err == nil {
		return defaultConfigFile, nil
	}
	return "", nil
}

func lookupEnv(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// decodeFile reads TOML strictly and reports every problem, not just the
// first: the file is parsed into a tree, then each key is assigned on its
// own, so an unknown key or a wrong type elsewhere does not hide this one.
func decodeFile(path string, cfg *Config) []error {
	var tree map[string]any
	if _, err := toml.DecodeFile(path, &tree); err != nil {
		return []error{err} // a syntax error: nothing after it can be trusted
	}
	known := map[string]leaf{}
	for _, l := range leaves(cfg) {
		known[l.key()] = l
	}
	var errs []error
	flatten(tree, "", func(key string, val any) {
		l, ok := known[key]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown key %q", key))
			return
		}
		if err := setFromTOML(l.value, val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	})
	return errs
}

// flatten calls fn for every non-table value in tree, with its dotted key,
// in a stable order.
func flatten(tree map[string]any, prefix string, fn func(key string, val any)) {
	keys := make([]string, 0, len(tree))
	for k := range tree {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if sub, ok := tree[k].(map[string]any); ok {
			flatten(sub, prefix+k+".", fn)
			continue
		}
		fn(prefix+k, tree[k])
	}
}

// setFromTOML assigns a decoded TOML value to a config field, strictly by type.
func setFromTOML(v reflect.Value, val any) error {
	kind := v.Kind()
	if _, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok || v.Type() == reflect.TypeFor[time.Duration]() {
		kind = reflect.String
	}
	switch x := val.(type) {
	case string:
		if kind == reflect.String {
			return setFromString(v, x)
		}
	case int64:
		switch {
		case v.Type() == reflect.TypeFor[time.Duration]():
			return fmt.Errorf("want a duration string such as \"30s\" or \"5m\", not %d", x)
		case kind == reflect.Int || kind == reflect.Int64 || kind == reflect.String && v.Kind() == reflect.Int64:
			v.SetInt(x)
			return nil
		}
	case bool:
		if kind == reflect.Bool {
			v.SetBool(x)
			return nil
		}
	case []any:
		if kind == reflect.Slice {
			items := make([]string, len(x))
			for i, it := range x {
				s, ok := it.(string)
				if !ok {
					return fmt.Errorf("want a list of strings")
				}
				items[i] = s
			}
			v.Set(reflect.ValueOf(items))
			return nil
		}
	}
	return fmt.Errorf("want %s, not %T %v", typeName(v), val, val)
}

func typeName(v reflect.Value) string {
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		return "a duration string such as \"5m\""
	case v.Kind() == reflect.Slice:
		return "a list of strings"
	case v.Kind() == reflect.Bool:
		return "true or false"
	case v.Kind() == reflect.String:
		return "a string"
	}
	if _, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return "a string such as \"2GiB\" or a number"
	}
	return "an integer"
}

// leaf is one configurable value: its TOML path and its field.
type leaf struct {
	path  []string
	doc   string
	value reflect.Value
}

func (l leaf) key() string { return strings.Join(l.path, ".") }
func (l leaf) env() string { return envPrefix + strings.ToUpper(strings.Join(l.path, "_")) }

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// isLeaf reports whether a struct field is a value rather than a section.
func isLeaf(t reflect.Type) bool {
	return t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(textUnmarshaler)
}

// walk visits every section (sections first, in field order) and leaf of v.
func walk(v reflect.Value, path []string, section func(path []string, doc string), visit func(leaf)) {
	t := v.Type()
	var sections []int
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			walk(v.Field(i), path, section, visit) // an embedded struct's keys belong to this section
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		p := append(append([]string{}, path...), name)
		if isLeaf(f.Type) {
			visit(leaf{path: p, doc: f.Tag.Get("doc"), value: v.Field(i)})
			continue
		}
		sections = append(sections, i)
	}
	for _, i := range sections {
		f := t.Field(i)
		p := append(append([]string{}, path...), f.Tag.Get("toml"))
		section(p, f.Tag.Get("doc"))
		walk(v.Field(i), p, section, visit)
	}
}

func leaves(cfg *Config) []leaf {
	var out []leaf
	walk(reflect.ValueOf(cfg).Elem(), nil, func([]string, string) {}, func(l leaf) { out = append(out, l) })
	return out
}

// applyEnv sets every leaf whose TIDINGS_ variable is set, and reports
// TIDINGS_ variables that match no key (a typo would otherwise be ignored).
func applyEnv(cfg *Config, environ []string) []error {
	known := map[string]leaf{}
	for _, l := range leaves(cfg) {
		known[l.env()] = l
	}
	var errs []error
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, envPrefix) || envIgnored(k) {
			continue
		}
		l, ok := known[k]
		if !ok {
			errs = append(errs, fmt.Errorf("environment: %s is not a configuration key", k))
			continue
		}
		if err := setFromString(l.value, v); err != nil {
			errs = append(errs, fmt.Errorf("environment: %s (%s): %w", k, l.key(), err))
		}
	}
	return errs
}

func envIgnored(k string) bool {
	for _, p := range envNotKeys {
		if k == p || strings.HasSuffix(p, "_") && strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func setFromString(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	if v.Type() == reflect.TypeFor[time.Duration]() {
		d, err := time.ParseDuration(s)
		if err == nil {
			v.SetInt(int64(d))
		}
		return err
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err == nil {
			v.SetBool(b)
		}
		return err
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			v.SetInt(n)
		}
		return err
	case reflect.Slice:
		var items []string
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot set a %s from the environment", v.Type())
	}
	return nil
}

// writeExample prints a commented tidings.toml holding every key with its
// default, generated from the Config structs so it cannot drift.
func writeExample(w io.Writer, cfg Config) error {
	var b strings.Builder
	b.WriteString("# tidings.toml: every key with its default value.\n")
	b.WriteString("# Any key can also be set from the environment: [database] dsn is TIDINGS_DATABASE_DSN.\n")
	v := reflect.ValueOf(&cfg).Elem()
	walk(v, nil, func(path []string, doc string) {
		b.WriteString("\n")
		comment(&b, doc)
		fmt.Fprintf(&b, "[%s]\n", strings.Join(path, "."))
	}, func(l leaf) {
		comment(&b, l.doc)
		fmt.Fprintf(&b, "%s = %s\n", l.path[len(l.path)-1], tomlValue(l.value))
	})
	_, err := io.WriteString(w, b.String())
	return err
}

func comment(b *strings.Builder, doc string) {
	line := "#"
	for _, word := range strings.Fields(doc) {
		if len(line)+1+len(word) > 100 && line != "#" {
			b.WriteString(line + "\n")
			line = "#"
		}
		line += " " + word
	}
	if line != "#" {
		b.WriteString(line + "\n")
	}
}

func tomlValue(v reflect.Value) string {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		text, _ := m.MarshalText()
		return strconv.Quote(string(text))
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return strconv.Quote(d.String())
	}
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = tomlValue(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	default:
		return fmt.Sprint(v.Interface())
	}
}
