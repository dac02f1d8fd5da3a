package sieve

import (
	"strconv"
	"strings"
)

// matchType is a MATCH-TYPE (RFC 5228 §2.7.1, RFC 5231, RFC 6134 §2.2).
type matchType int

const (
	mIs matchType = iota
	mContains
	mMatches
	mValue
	mCount
	mList
)

// Tags shared by the tests that compare strings.
var (
	comparatorTag = tagDef{name: "comparator", arg: aString, group: "comparator"}
	matchTags     = []tagDef{
		{name: "is", arg: aTag, group: "match"},
		{name: "contains", arg: aTag, group: "match"},
		{name: "matches", arg: aTag, group: "match"},
		{name: "value", ext: "relational", arg: aString, group: "match"},
		{name: "count", ext: "relational", arg: aString, group: "match"},
		{name: "list", ext: "extlists", arg: aTag, group: "match"},
	}
	addressPartTags = []tagDef{
		{name: "all", arg: aTag, group: "addrpart"},
		{name: "localpart", arg: aTag, group: "addrpart"},
		{name: "domain", arg: aTag, group: "addrpart"},
		{name: "user", ext: "subaddress", arg: aTag, group: "addrpart"},
		{name: "detail", ext: "subaddress", arg: aTag, group: "addrpart"},
	}
)

func withMatch(extra ...tagDef) []tagDef {
	tags := append([]tagDef{comparatorTag}, matchTags...)
	return append(tags, extra...)
}

// relational operators (RFC 5231 §5).
var relOps = map[string]func(int) bool{
	"gt": func(c int) bool { return c > 0 },
	"ge": func(c int) bool { return c >= 0 },
	"lt": func(c int) bool { return c < 0 },
	"le": func(c int) bool { return c <= 0 },
	"eq": func(c int) bool { return c == 0 },
	"ne": func(c int) bool { return c != 0 },
}

// matcher compares values against a key list.
type matcher struct {
	typ    matchType
	cmp    comparator
	rel    func(int) bool
	keys   strList
	folded []string  // constant keys folded by the comparator (nil if not all constant)
	pats   []pattern // precompiled constant :matches keys
}

// matcher reads the comparator and match type tags of a test.
func (c *checker) matcher(x *call, keys arg) (*matcher, error) {
	m := &matcher{typ: mIs}
	if a, ok := x.tags["comparator"]; ok {
		cmp, err := c.comparator(a)
		if err != nil {
			return nil, err
		}
		m.cmp = cmp
	}
	if err := c.matchType(x, m); err != nil {
		return nil, err
	}
	var err error
	if m.keys, err = c.strs(keys); err != nil {
		return nil, err
	}
	if m.typ == mList {
		return m, c.checkListKeys(m.keys)
	}
	if m.keys.lits != nil {
		m.folded = make([]string, len(m.keys.lits))
		for i, k := range m.keys.lits {
			m.folded[i] = m.cmp.fold(k)
		}
	}
	if m.typ == mMatches {
		m.pats = make([]pattern, len(m.keys.items))
		for i, k := range m.keys.items {
			if k.constant() {
				m.pats[i] = compilePattern(k.lit, m.cmp)
			}
		}
	}
	return m, nil
}

func (c *checker) comparator(a arg) (comparator, error) {
	s := a.strs[0]
	name := strings.ToLower(s.value)
	cmp, ok := comparatorNames[name]
	if !ok {
		return 0, errAt(s.pos, "unknown comparator %s", quote(s.value))
	}
	// RFC 5228 §2.7.3: i;octet and i;ascii-casemap need no require.
	if cmp == cmpNumeric && !c.has("comparator-"+name) {
		return 0, errAt(s.pos, "comparator %s requires %s in a require command", name, quote("comparator-"+name))
	}
	return cmp, nil
}

func (c *checker) matchType(x *call, m *matcher) error {
	switch {
	case x.has("contains"):
		m.typ = mContains
	case x.has("matches"):
		m.typ = mMatches
	case x.has("list"):
		m.typ = mList
	case x.has("value"), x.has("count"):
		m.typ = mValue
		a := x.tags["value"]
		if x.has("count") {
			m.typ, a = mCount, x.tags["count"]
		}
		op := a.strs[0]
		if m.rel = relOps[strings.ToLower(op.value)]; m.rel == nil {
			return errAt(op.pos, "invalid relational operator %s (want gt, ge, lt, le, eq or ne)", quote(op.value))
		}
	}
	if m.cmp == cmpNumeric && (m.typ == mContains || m.typ == mMatches) {
		return errAt(x.pos, "comparator i;ascii-numeric cannot be used with a substring match (RFC 4790 §9.1)")
	}
	return nil
}

// match reports whether any value matches any key. count is the number of
// values for :count when that differs from len(values).
func (m *matcher) match(r *run, values []string) (bool, error) {
	switch m.typ {
	case mCount:
		return m.matchCount(r, len(values))
	case mList:
		return m.matchList(r, values)
	}
	keys, folded := m.foldedKeys(r)
	for _, v := range values {
		fv := v
		if m.typ == mContains || m.typ == mMatches {
			fv = m.cmp.fold(v)
		}
		for i, k := range keys {
			ok, err := m.one(r, v, fv, k, folded[i], i)
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

// foldedKeys returns the keys as given and folded by the comparator.
func (m *matcher) foldedKeys(r *run) ([]string, []string) {
	if m.folded != nil {
		return m.keys.lits, m.folded
	}
	keys := r.expandAll(m.keys)
	folded := make([]string, len(keys))
	for i, k := range keys {
		folded[i] = m.cmp.fold(k)
	}
	return keys, folded
}

func (m *matcher) matchCount(r *run, n int) (bool, error) {
	count := strconv.Itoa(n)
	for _, k := range r.expandAll(m.keys) {
		if err := r.step(1); err != nil {
			return false, err
		}
		if m.rel(m.cmp.compare(count, k)) {
			return true, nil
		}
	}
	return false, nil
}

// one compares one value against one key; fv and fk are folded.
func (m *matcher) one(r *run, v, fv, k, fk string, i int) (bool, error) {
	if err := r.scan(len(v)); err != nil {
		return false, err
	}
	switch m.typ {
	case mIs:
		return m.cmp.compare(v, k) == 0, nil
	case mContains:
		return strings.Contains(fv, fk), nil
	case mValue:
		return m.rel(m.cmp.compare(v, k)), nil
	}
	p := m.pats[i]
	if !m.keys.items[i].constant() {
		p = compilePattern(k, m.cmp)
	}
	ok, caps, err := p.match(r, fv, v)
	if ok && r.s.caps["variables"] {
		r.matchVars = caps // RFC 5229 §3.2: set only on success
	}
	return ok, err
}
