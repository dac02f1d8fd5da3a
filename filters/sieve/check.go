package sieve

import (
	"slices"
)

// testArity says whether a command or test takes nested tests.
type testArity int

const (
	noTest testArity = iota
	oneTest
	testList
)

// tagDef describes an optional tagged argument (RFC 5228 §2.6.2).
type tagDef struct {
	name  string  // without ':'
	ext   string  // capability that enables it; "" for the base spec
	arg   argKind // aTag: the tag takes no value
	group string  // tags of one group exclude each other (e.g. match types)
}

// spec describes a command or test: its extension, tags, positional
// arguments, nested tests and block, and how to build its compiled form.
type spec struct {
	ext    string
	tags   []tagDef
	pos    []argKind // aString: a string; aStringList: a string-list; aNumber
	minPos int       // fewer leading positionals may be left out (setflag)
	test   testArity
	block  bool
	build  func(c *checker, x *call) (any, error)
}

// call is one command or test with its arguments sorted out by its spec.
type call struct {
	pos    Pos
	name   string
	tags   map[string]arg // the tag's value, or the tag itself when it has none
	pos2   []arg          // positional arguments, right-aligned to spec.pos
	tests  []*testNode
	block  []*command
	isTest bool
}

func (x *call) has(tag string) bool { _, ok := x.tags[tag]; return ok }

var (
	commandSpecs = map[string]*spec{}
	testSpecs    = map[string]*spec{}
)

// checker validates the tree and compiles it (RFC 5228 §2.10.5: errors are
// found before any action runs).
type checker struct {
	opt      Options
	required map[string]bool
	requires []string
	nesting  int
}

func (c *checker) has(capability string) bool { return c.required[capability] }

// commands compiles a block. top tells whether require is allowed.
func (c *checker) commands(cmds []*command, top bool) ([]cmdNode, error) {
	var out []cmdNode
	seenOther := false
	for i := 0; i < len(cmds); i++ {
		cmd := cmds[i]
		if cmd.name == "require" {
			if !top || seenOther {
				return nil, errAt(cmd.pos, "require must come before any other command (RFC 5228 §3.2)")
			}
			if err := c.require(cmd); err != nil {
				return nil, err
			}
			continue
		}
		seenOther = true
		if cmd.name == "if" {
			n, used, err := c.ifChain(cmds[i:])
			if err != nil {
				return nil, err
			}
			out = append(out, n)
			i += used - 1
			continue
		}
		if cmd.name == "elsif" || cmd.name == "else" {
			return nil, errAt(cmd.pos, "%s without if", cmd.name)
		}
		n, err := c.command(cmd)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (c *checker) require(cmd *command) error {
	if len(cmd.tests) > 0 || cmd.hasBlock || len(cmd.args) != 1 || cmd.args[0].kind == aTag || cmd.args[0].kind == aNumber {
		return errAt(cmd.pos, "require takes one string list of capabilities")
	}
	for _, s := range cmd.args[0].strs {
		if !c.opt.enabled(s.value) {
			return errAt(s.pos, "unsupported extension %s", quote(s.value))
		}
		if !c.required[s.value] {
			c.required[s.value] = true
			c.requires = append(c.requires, s.value)
		}
	}
	return nil
}

func (c *checker) command(cmd *command) (cmdNode, error) {
	sp := commandSpecs[cmd.name]
	if sp == nil && testSpecs[cmd.name] != nil {
		return nil, errAt(cmd.pos, "%s is a test, not a command", cmd.name)
	}
	if sp == nil {
		return nil, errAt(cmd.pos, "unknown command %s", quote(cmd.name))
	}
	x, err := c.bind(sp, cmd.pos, cmd.name, cmd.args, cmd.tests, cmd.testList, false)
	if err != nil {
		return nil, err
	}
	if sp.block != cmd.hasBlock {
		if sp.block {
			return nil, errAt(cmd.endPos, "%s needs a block", cmd.name)
		}
		return nil, errAt(cmd.endPos, "%s does not take a block; expected \";\"", cmd.name)
	}
	x.block = cmd.block
	n, err := sp.build(c, x)
	if err != nil {
		return nil, err
	}
	return n.(cmdNode), nil
}

func (c *checker) test(t *testNode) (cond, error) {
	sp := testSpecs[t.name]
	if sp == nil {
		if commandSpecs[t.name] != nil {
			return nil, errAt(t.pos, "%s is a command, not a test", t.name)
		}
		return nil, errAt(t.pos, "unknown test %s", quote(t.name))
	}
	c.nesting++
	defer func() { c.nesting-- }()
	if c.nesting > c.opt.MaxNesting {
		return nil, errAt(t.pos, "nesting deeper than %d", c.opt.MaxNesting)
	}
	x, err := c.bind(sp, t.pos, t.name, t.args, t.tests, t.testList, true)
	if err != nil {
		return nil, err
	}
	n, err := sp.build(c, x)
	if err != nil {
		return nil, err
	}
	return n.(cond), nil
}

func (c *checker) tests(ts []*testNode) ([]cond, error) {
	out := make([]cond, 0, len(ts))
	for _, t := range ts {
		n, err := c.test(t)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// bind checks the extension, tags, positional arguments and nested tests
// of a command or test against its spec.
func (c *checker) bind(sp *spec, pos Pos, name string, args []arg, tests []*testNode, isList, isTest bool) (*call, error) {
	if sp.ext != "" && !c.has(sp.ext) {
		return nil, errAt(pos, "%s requires %s in a require command", name, quote(sp.ext))
	}
	x := &call{pos: pos, name: name, tags: map[string]arg{}, isTest: isTest}
	i, err := c.bindTags(sp, x, args)
	if err != nil {
		return nil, err
	}
	if err := c.bindPositional(sp, x, args[i:]); err != nil {
		return nil, err
	}
	return x, c.bindTests(sp, x, tests, isList)
}

func (c *checker) bindTags(sp *spec, x *call, args []arg) (int, error) {
	groups := map[string]string{}
	i := 0
	for ; i < len(args) && args[i].kind == aTag; i++ {
		a := args[i]
		td := findTag(sp.tags, a.tag)
		if td == nil {
			return 0, errAt(a.pos, "unknown tag :%s for %s", a.tag, x.name)
		}
		if td.ext != "" && !c.has(td.ext) {
			return 0, errAt(a.pos, ":%s requires %s in a require command", a.tag, quote(td.ext))
		}
		if x.has(a.tag) {
			return 0, errAt(a.pos, "duplicate tag :%s", a.tag)
		}
		if other, ok := groups[td.group]; ok && td.group != "" {
			return 0, errAt(a.pos, "tag :%s conflicts with :%s", a.tag, other)
		}
		groups[td.group] = a.tag
		if td.arg == aTag {
			x.tags[a.tag] = a
			continue
		}
		i++
		if i >= len(args) || !fits(td.arg, args[i].kind) {
			return 0, errAt(a.pos, ":%s needs a %s argument", a.tag, kindName(td.arg))
		}
		x.tags[a.tag] = args[i]
	}
	return i, nil
}

func (c *checker) bindPositional(sp *spec, x *call, args []arg) error {
	for _, a := range args {
		if a.kind == aTag {
			return errAt(a.pos, "tag :%s must come before the positional arguments", a.tag)
		}
	}
	min := len(sp.pos)
	if sp.minPos > 0 {
		min = sp.minPos
	}
	if len(args) < min {
		return errAt(x.pos, "%s needs %d argument(s), got %d", x.name, min, len(args))
	}
	if len(args) > len(sp.pos) {
		extra := args[len(sp.pos)]
		return errAt(extra.pos, "unexpected %s argument for %s", kindName(extra.kind), x.name)
	}
	want := sp.pos[len(sp.pos)-len(args):]
	for i, a := range args {
		if !fits(want[i], a.kind) {
			return errAt(a.pos, "%s expects a %s here, not a %s", x.name, kindName(want[i]), kindName(a.kind))
		}
	}
	x.pos2 = args
	return nil
}

func (c *checker) bindTests(sp *spec, x *call, tests []*testNode, isList bool) error {
	switch {
	case sp.test == noTest && len(tests) > 0 && !x.isTest && !isList && !sp.block:
		return errAt(tests[0].pos, "expected \";\" after %s, found %s", x.name, quote(tests[0].name))
	case sp.test == noTest && len(tests) > 0:
		return errAt(tests[0].pos, "%s does not take a test", x.name)
	case sp.test == oneTest && (len(tests) != 1 || isList):
		return errAt(x.pos, "%s needs exactly one test", x.name)
	case sp.test == testList && !isList:
		return errAt(x.pos, "%s needs a test list in parentheses", x.name)
	}
	x.tests = tests
	return nil
}

func findTag(tags []tagDef, name string) *tagDef {
	i := slices.IndexFunc(tags, func(t tagDef) bool { return t.name == name })
	if i < 0 {
		return nil
	}
	return &tags[i]
}

// fits: a single string may stand where a string-list is expected
// (RFC 5228 §2.4.2.1), never the reverse.
func fits(want, got argKind) bool {
	return want == got || (want == aStringList && got == aString)
}

func kindName(k argKind) string {
	switch k {
	case aNumber:
		return "number"
	case aString:
		return "string"
	case aStringList:
		return "string list"
	}
	return "tag"
}
