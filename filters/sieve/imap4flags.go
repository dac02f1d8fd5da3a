package sieve

import (
	"strings"
)

// imap4flags (RFC 5232): setflag/addflag/removeflag, hasflag and :flags.

type flagOp int

const (
	flagSet flagOp = iota
	flagAdd
	flagRemove
)

type flagCmd struct {
	op      flagOp
	varName string // "" is the internal variable
	flags   strList
}

func (n *flagCmd) exec(r *run) error {
	cur := r.flags
	if n.varName != "" {
		cur = parseFlags([]string{r.vars[n.varName]})
	}
	given := parseFlags(r.expandAll(n.flags))
	switch n.op {
	case flagSet:
		cur = given
	case flagAdd:
		cur = mergeFlags(cur, given)
	case flagRemove:
		cur = removeFlags(cur, given)
	}
	if n.varName == "" {
		r.flags = cur
		return nil
	}
	return r.setVar(n.varName, strings.Join(cur, " "))
}

type hasflagCond struct {
	vars []string // nil: the internal variable
	m    *matcher
}

func (n *hasflagCond) eval(r *run) (bool, error) {
	flags := r.flags
	if n.vars != nil {
		var vals []string
		for _, v := range n.vars {
			vals = append(vals, r.vars[v])
		}
		flags = parseFlags(vals)
	}
	return n.m.match(r, flags)
}

// parseFlags splits space-separated flag lists, drops invalid flags and
// duplicates (RFC 5232 §3), and spells system flags canonically.
func parseFlags(lists []string) []string {
	var out []string
	for _, l := range lists {
		for _, f := range strings.Fields(l) {
			if f = canonicalFlag(f); f != "" {
				out = mergeFlags(out, []string{f})
			}
		}
	}
	return out
}

var systemFlags = []string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`}

func canonicalFlag(f string) string {
	if strings.HasPrefix(f, `\`) {
		for _, s := range systemFlags {
			if strings.EqualFold(s, f) {
				return s
			}
		}
		return ""
	}
	// An IMAP atom (RFC 9051 §9): no specials or controls.
	if strings.ContainsAny(f, "(){%*\"\\]") {
		return ""
	}
	for i := 0; i < len(f); i++ {
		if f[i] < 0x21 || f[i] > 0x7e {
			return ""
		}
	}
	return f
}

// mergeFlags adds b's flags to a, case-insensitively without duplicates.
func mergeFlags(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, f := range b {
		if !hasFlag(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func removeFlags(a, b []string) []string {
	var out []string
	for _, f := range a {
		if !hasFlag(b, f) {
			out = append(out, f)
		}
	}
	return out
}

func hasFlag(list []string, f string) bool {
	for _, g := range list {
		if strings.EqualFold(g, f) {
			return true
		}
	}
	return false
}

// actionFlags gives keep/fileinto their flags: the :flags argument, or
// the internal variable (RFC 5232 §5).
func (r *run) actionFlags(flags *strList) []string {
	if flags != nil {
		return parseFlags(r.expandAll(*flags))
	}
	return r.implicitFlags()
}

// flagsTag compiles the :flags tag; nil when absent.
func (c *checker) flagsTag(x *call) (*strList, error) {
	a, ok := x.tags["flags"]
	if !ok {
		return nil, nil
	}
	l, err := c.strs(a)
	return &l, err
}

func buildFlagCmd(op flagOp) func(*checker, *call) (any, error) {
	return func(c *checker, x *call) (any, error) {
		n := &flagCmd{op: op}
		if len(x.pos2) == 2 {
			name, err := c.varName(x.pos2[0], x.name)
			if err != nil {
				return nil, err
			}
			n.varName = name
		}
		var err error
		n.flags, err = c.strs(x.pos2[len(x.pos2)-1])
		return n, err
	}
}

func buildHasflag(c *checker, x *call) (any, error) {
	n := &hasflagCond{}
	if len(x.pos2) == 2 {
		for _, s := range x.pos2[0].strs {
			name, err := c.varName(arg{kind: aString, pos: s.pos, strs: []strLit{s}}, x.name)
			if err != nil {
				return nil, err
			}
			n.vars = append(n.vars, name)
		}
	}
	m, err := c.matcher(x, x.pos2[len(x.pos2)-1])
	if err == nil && m.typ == mList {
		return nil, errAt(x.pos, "hasflag does not take :list")
	}
	n.m = m
	return n, err
}

// varName checks a variable name argument (RFC 5229 §3: an identifier;
// match variables cannot be set).
func (c *checker) varName(a arg, cmd string) (string, error) {
	s := a.strs[0]
	if !c.has("variables") {
		return "", errAt(s.pos, "%s with a variable name requires \"variables\" in a require command", cmd)
	}
	if !isIdentifier(s.value) {
		if strings.Contains(s.value, ".") {
			return "", errAt(s.pos, "unsupported variable namespace in %s", quote(s.value))
		}
		return "", errAt(s.pos, "invalid variable name %s", quote(s.value))
	}
	return strings.ToLower(s.value), nil
}

func init() {
	for name, op := range map[string]flagOp{"setflag": flagSet, "addflag": flagAdd, "removeflag": flagRemove} {
		commandSpecs[name] = &spec{ext: "imap4flags", pos: []argKind{aString, aStringList}, minPos: 1, build: buildFlagCmd(op)}
	}
	testSpecs["hasflag"] = &spec{ext: "imap4flags", tags: withMatch(), pos: []argKind{aStringList, aStringList},
		minPos: 1, build: buildHasflag}
}
