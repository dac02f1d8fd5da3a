package sieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// str is a compiled string: a constant, or a template with variable
// references when "variables" is required (RFC 5229 §3).
type str struct {
	pos   Pos
	lit   string    // the value after encoded-character decoding
	parts []strPart // nil: constant lit
}

type strPart struct {
	lit   string
	name  string // variable name, lowercased; "" with num < 0: literal
	num   int    // match variable index; -1 for a named variable
	isVar bool
}

func (s str) constant() bool { return s.parts == nil }

// maxValueLen caps an expanded string (RFC 5229 §3 lets implementations
// limit variable sizes; the RFC asks for at least 4000 octets).
const maxValueLen = 16 << 10

// compileStr decodes encoded characters and splits variable references.
func (c *checker) str(l strLit) (str, error) {
	v := l.value
	if c.has("encoded-character") {
		var err error
		if v, err = decodeEncoded(v); err != nil {
			return str{}, errAt(l.pos, "%s", err.Error())
		}
	}
	s := str{pos: l.pos, lit: v}
	if !c.has("variables") || !strings.Contains(v, "${") {
		return s, nil
	}
	parts, err := splitVars(v)
	if err != nil {
		return str{}, errAt(l.pos, "%s", err.Error())
	}
	if len(parts) == 1 && !parts[0].isVar {
		return s, nil
	}
	s.parts = parts
	return s, nil
}

// strList is a compiled string list; lits caches the values when every
// item is constant, so running it allocates nothing.
type strList struct {
	items []str
	lits  []string
}

func (c *checker) strs(a arg) (strList, error) {
	out := strList{items: make([]str, 0, len(a.strs)), lits: make([]string, 0, len(a.strs))}
	for _, l := range a.strs {
		s, err := c.str(l)
		if err != nil {
			return strList{}, err
		}
		out.items = append(out.items, s)
		if out.lits != nil && s.constant() {
			out.lits = append(out.lits, s.lit)
		} else {
			out.lits = nil
		}
	}
	return out, nil
}

// strArg and strsArg compile a positional or tagged argument.
func (c *checker) strArg(a arg) (str, error) { return c.str(a.strs[0]) }

// splitVars parses "${name}", "${N}" references; anything that is not a
// well-formed reference stays literal (RFC 5229 §3).
func splitVars(v string) ([]strPart, error) {
	var parts []strPart
	var lit strings.Builder
	for i := 0; i < len(v); {
		if !strings.HasPrefix(v[i:], "${") {
			lit.WriteByte(v[i])
			i++
			continue
		}
		end := strings.IndexByte(v[i:], '}')
		if end < 0 {
			lit.WriteString(v[i:])
			break
		}
		p, ok, err := parseVarRef(v[i+2 : i+end])
		if err != nil {
			return nil, err
		}
		if !ok {
			lit.WriteByte('$')
			i++
			continue
		}
		if lit.Len() > 0 {
			parts = append(parts, strPart{lit: lit.String(), num: -1})
			lit.Reset()
		}
		parts = append(parts, p)
		i += end + 1
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, strPart{lit: lit.String(), num: -1})
	}
	return parts, nil
}

// parseVarRef reads the inside of "${...}". Namespaced references are an
// error: we support no namespaces (RFC 5229 §3).
func parseVarRef(ref string) (strPart, bool, error) {
	if ref == "" {
		return strPart{}, false, nil
	}
	if allDigits(ref) {
		n, err := strconv.Atoi(ref)
		if err != nil || n > 1000 {
			n = 1000 // never set: expands to ""
		}
		return strPart{num: n, isVar: true}, true, nil
	}
	segs := strings.Split(ref, ".")
	for _, s := range segs {
		if !isIdentifier(s) && !(allDigits(s) && s != "") {
			return strPart{}, false, nil
		}
	}
	if len(segs) > 1 {
		return strPart{}, false, errUnsupportedNamespace(segs[0])
	}
	return strPart{name: strings.ToLower(ref), num: -1, isVar: true}, true, nil
}

type errUnsupportedNamespace string

func (e errUnsupportedNamespace) Error() string {
	return "unsupported variable namespace " + quote(string(e))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isIdentifier(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentStart(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// truncateUTF8 cuts s to at most n bytes on a character boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
