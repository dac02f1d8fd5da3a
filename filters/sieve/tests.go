package sieve

import (
	"strings"
)

// Core tests (RFC 5228 §5).

type constCond bool

func (c constCond) eval(r *run) (bool, error) { return bool(c), r.step(1) }

type notCond struct{ c cond }

func (n notCond) eval(r *run) (bool, error) {
	ok, err := n.c.eval(r)
	return !ok, err
}

// listCond is allof (all) or anyof, short-circuiting (RFC 5228 §5.2, §5.3).
type listCond struct {
	all bool
	cs  []cond
}

func (n *listCond) eval(r *run) (bool, error) {
	if err := r.step(1); err != nil {
		return false, err
	}
	for _, c := range n.cs {
		ok, err := c.eval(r)
		if err != nil {
			return false, err
		}
		if ok != n.all {
			return ok, nil
		}
	}
	return n.all, nil
}

type existsCond struct{ names strList }

func (n *existsCond) eval(r *run) (bool, error) {
	for _, name := range r.expandAll(n.names) {
		if err := r.step(1); err != nil {
			return false, err
		}
		if len(r.env.Msg.Header(name)) == 0 {
			return false, nil
		}
	}
	return true, nil
}

type sizeCond struct {
	over  bool
	limit int64
}

func (n *sizeCond) eval(r *run) (bool, error) {
	size := r.env.Msg.Size()
	if n.over {
		return size > n.limit, r.step(1)
	}
	return size < n.limit, r.step(1)
}

type headerCond struct {
	names strList
	m     *matcher
}

func (n *headerCond) eval(r *run) (bool, error) {
	var values []string
	for _, name := range r.expandAll(n.names) {
		values = append(values, r.env.Msg.Header(name)...)
	}
	return n.m.match(r, values)
}

type addressCond struct {
	headers  strList
	part     addrPart
	m        *matcher
	envelope bool
}

func (n *addressCond) eval(r *run) (bool, error) {
	var values []string
	for _, name := range r.expandAll(n.headers) {
		if n.envelope {
			values = n.appendEnvelope(r, values, strings.ToLower(name))
			continue
		}
		for _, h := range r.env.Msg.RawHeader(name) {
			pa := r.addresses(h)
			for _, a := range pa.addrs {
				if v, ok := n.part.extract(a, pa.valid); ok {
					values = append(values, v)
				}
			}
		}
	}
	return n.m.match(r, values)
}

func (n *addressCond) appendEnvelope(r *run, values []string, part string) []string {
	var a string
	switch part {
	case "from":
		a = envelopeAddress(r.env.From)
	case "to":
		a = envelopeAddress(r.env.To)
	default:
		return values
	}
	if v, ok := n.part.extract(a, true); ok {
		values = append(values, v)
	}
	return values
}

func buildAnyAll(all bool) func(*checker, *call) (any, error) {
	return func(c *checker, x *call) (any, error) {
		cs, err := c.tests(x.tests)
		return &listCond{all: all, cs: cs}, err
	}
}

func buildNot(c *checker, x *call) (any, error) {
	t, err := c.test(x.tests[0])
	return notCond{t}, err
}

func buildExists(c *checker, x *call) (any, error) {
	names, err := c.headerNames(x.pos2[0])
	return &existsCond{names: names}, err
}

func buildSize(c *checker, x *call) (any, error) {
	over, under := x.has("over"), x.has("under")
	if over == under {
		return nil, errAt(x.pos, "size needs exactly one of :over or :under")
	}
	a := x.tags["over"]
	if under {
		a = x.tags["under"]
	}
	return &sizeCond{over: over, limit: a.num}, nil
}

func buildHeader(c *checker, x *call) (any, error) {
	names, err := c.headerNames(x.pos2[0])
	if err != nil {
		return nil, err
	}
	m, err := c.matcher(x, x.pos2[1])
	return &headerCond{names: names, m: m}, err
}

func buildAddress(c *checker, x *call) (any, error) {
	names, err := c.headerNames(x.pos2[0])
	if err != nil {
		return nil, err
	}
	for _, n := range names.items {
		if n.constant() && !isAddressHeader(n.lit) {
			return nil, errAt(n.pos, "address test cannot be used with header %s (not an address field)", quote(n.lit))
		}
	}
	m, err := c.matcher(x, x.pos2[1])
	return &addressCond{headers: names, part: addrPartOf(x), m: m}, err
}

func buildEnvelope(c *checker, x *call) (any, error) {
	parts, err := c.strs(x.pos2[0])
	if err != nil {
		return nil, err
	}
	for _, p := range parts.items {
		if l := strings.ToLower(p.lit); p.constant() && l != "from" && l != "to" {
			return nil, errAt(p.pos, "unsupported envelope part %s (want \"from\" or \"to\")", quote(p.lit))
		}
	}
	m, err := c.matcher(x, x.pos2[1])
	return &addressCond{headers: parts, part: addrPartOf(x), m: m, envelope: true}, err
}

// headerNames compiles a header-name list; constant names must be valid
// field names (RFC 5322 §3.6.8).
func (c *checker) headerNames(a arg) (strList, error) {
	names, err := c.strs(a)
	if err != nil {
		return strList{}, err
	}
	for _, n := range names.items {
		if n.constant() && !validFieldName(n.lit) {
			return strList{}, errAt(n.pos, "invalid header name %s", quote(n.lit))
		}
	}
	return names, nil
}

func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == ':' {
			return false
		}
	}
	return true
}

func init() {
	testSpecs["true"] = &spec{build: func(*checker, *call) (any, error) { return constCond(true), nil }}
	testSpecs["false"] = &spec{build: func(*checker, *call) (any, error) { return constCond(false), nil }}
	testSpecs["not"] = &spec{test: oneTest, build: buildNot}
	testSpecs["anyof"] = &spec{test: testList, build: buildAnyAll(false)}
	testSpecs["allof"] = &spec{test: testList, build: buildAnyAll(true)}
	testSpecs["exists"] = &spec{pos: []argKind{aStringList}, build: buildExists}
	testSpecs["size"] = &spec{tags: []tagDef{{name: "over", arg: aNumber, group: "size"}, {name: "under", arg: aNumber, group: "size"}}, build: buildSize}
	twoLists := []argKind{aStringList, aStringList}
	testSpecs["header"] = &spec{tags: withMatch(), pos: twoLists, build: buildHeader}
	testSpecs["address"] = &spec{tags: withMatch(addressPartTags...), pos: twoLists, build: buildAddress}
	testSpecs["envelope"] = &spec{ext: "envelope", tags: withMatch(addressPartTags...), pos: twoLists, build: buildEnvelope}
}
