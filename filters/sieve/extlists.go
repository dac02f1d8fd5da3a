package sieve

import (
	"fmt"
	"strings"
)

// extlists (RFC 6134): the :list match type and the valid_ext_list test.
// redirect :list is not supported (the Env has no way to expand a list).

// listURNPrefix: a list name that starts with ":" is short for the URN
// "urn:ietf:params:sieve" followed by the name, so ":addrbook:default" is
// "urn:ietf:params:sieve:addrbook:default" (RFC 6134 §2.6, §4).
const listURNPrefix = "urn:ietf:params:sieve"

// canonicalList returns the full list URI, or "" when name is not a valid
// list name (a URI, or the ":" short form).
func canonicalList(name string) string {
	if strings.HasPrefix(name, ":") {
		if len(name) < 2 || !uriChars(name[1:]) {
			return ""
		}
		return listURNPrefix + name
	}
	scheme, rest, ok := strings.Cut(name, ":")
	if !ok || !validScheme(scheme) || rest == "" || !uriChars(rest) {
		return ""
	}
	return name
}

func validScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// uriChars accepts the characters a URI (RFC 3986 §2) may hold, plus
// non-ASCII for IRIs.
func uriChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte("\"<>\\^`{|}", c) >= 0 {
			return false
		}
	}
	return true
}

// checkListKeys validates constant list names at compile time.
func (c *checker) checkListKeys(keys strList) error {
	for _, k := range keys.items {
		if k.constant() && canonicalList(k.lit) == "" {
			return errAt(k.pos, "invalid list name %s", quote(k.lit))
		}
	}
	return nil
}

// matchList asks the ListContains hook; the comparator is not used
// (RFC 6134 §2.2).
func (m *matcher) matchList(r *run, values []string) (bool, error) {
	if r.env.ListContains == nil {
		return false, nil
	}
	for _, k := range r.expandAll(m.keys) {
		list := canonicalList(k)
		if list == "" {
			continue
		}
		for _, v := range values {
			if err := r.step(1); err != nil {
				return false, err
			}
			ok, err := r.env.ListContains(r.ctx, list, v)
			if err != nil {
				return false, fmt.Errorf("%w: list %s: %w", ErrRuntime, list, err)
			}
			if ok {
				return true, nil
			}
		}
	}
	return false, nil
}

type validListCond struct{ names strList }

func (n *validListCond) eval(r *run) (bool, error) {
	for _, name := range r.expandAll(n.names) {
		if err := r.step(1); err != nil {
			return false, err
		}
		list := canonicalList(name)
		if list == "" || r.env.ValidList == nil || !r.env.ValidList(list) {
			return false, nil
		}
	}
	return true, nil
}

func buildValidList(c *checker, x *call) (any, error) {
	names, err := c.strs(x.pos2[0])
	return &validListCond{names: names}, err
}

func init() {
	testSpecs["valid_ext_list"] = &spec{ext: "extlists", pos: []argKind{aStringList}, build: buildValidList}
}
