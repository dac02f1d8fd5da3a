package sieve

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// variables (RFC 5229): set with modifiers, the string test; expansion is
// in strings.go and interp.go.

type modifier struct {
	name       string
	precedence int // RFC 5229 §4.1; :encodeurl from RFC 5435 §7
	ext        string
	apply      func(string) string
}

var modifiers = []modifier{
	{"lower", 40, "", strings.ToLower},
	{"upper", 40, "", strings.ToUpper},
	{"lowerfirst", 30, "", func(s string) string { return mapFirst(s, unicode.ToLower) }},
	{"upperfirst", 30, "", func(s string) string { return mapFirst(s, unicode.ToUpper) }},
	{"quotewildcard", 20, "", quoteWildcard},
	{"encodeurl", 15, "enotify", encodeURL},
	{"length", 10, "", func(s string) string { return strconv.Itoa(utf8.RuneCountInString(s)) }},
}

type setCmd struct {
	name  string
	mods  []modifier // highest precedence first
	value str
}

func (n *setCmd) exec(r *run) error {
	v := r.expand(n.value)
	for _, m := range n.mods {
		v = m.apply(v)
	}
	if err := r.scan(len(v)); err != nil {
		return err
	}
	return r.setVar(n.name, truncateUTF8(v, maxValueLen))
}

func buildSet(c *checker, x *call) (any, error) {
	name, err := c.varName(x.pos2[0], "set")
	if err != nil {
		return nil, err
	}
	n := &setCmd{name: name}
	seen := map[int]string{}
	for _, m := range modifiers {
		a, ok := x.tags[m.name]
		if !ok {
			continue
		}
		if other, dup := seen[m.precedence]; dup {
			return nil, errAt(a.pos, "modifiers :%s and :%s cannot be combined (same precedence, RFC 5229 §4.1)", other, m.name)
		}
		seen[m.precedence] = m.name
		n.mods = append(n.mods, m)
	}
	slices.SortStableFunc(n.mods, func(a, b modifier) int { return b.precedence - a.precedence })
	n.value, err = c.strArg(x.pos2[1])
	return n, err
}

func mapFirst(s string, f func(rune) rune) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(f(r)) + s[n:]
}

func quoteWildcard(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '*' || s[i] == '?' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// encodeURL percent-encodes all but the RFC 3986 unreserved characters
// (RFC 5435 §7).
func encodeURL(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

type stringCond struct {
	source strList
	m      *matcher
}

func (n *stringCond) eval(r *run) (bool, error) {
	values := slices.Clone(r.expandAll(n.source))
	if n.m.typ == mCount {
		// RFC 5229 §5: :count counts the non-empty strings.
		values = slices.DeleteFunc(values, func(s string) bool { return s == "" })
	}
	return n.m.match(r, values)
}

func buildString(c *checker, x *call) (any, error) {
	src, err := c.strs(x.pos2[0])
	if err != nil {
		return nil, err
	}
	m, err := c.matcher(x, x.pos2[1])
	return &stringCond{source: src, m: m}, err
}

func init() {
	tags := make([]tagDef, len(modifiers))
	for i, m := range modifiers {
		tags[i] = tagDef{name: m.name, ext: m.ext, arg: aTag}
	}
	commandSpecs["set"] = &spec{ext: "variables", tags: tags, pos: []argKind{aString, aString}, build: buildSet}
	testSpecs["string"] = &spec{ext: "variables", tags: withMatch(), pos: []argKind{aStringList, aStringList}, build: buildString}
}
