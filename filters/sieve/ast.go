package sieve

import (
	"fmt"
	"strings"
)

// argKind is the syntactic kind of an argument (RFC 5228 §2.6).
type argKind int

const (
	aTag argKind = iota
	aNumber
	aString
	aStringList
)

// strLit is one string as written in the script.
type strLit struct {
	pos   Pos
	value string
}

// arg is one argument as parsed. A single string is aString; "[...]" is
// aStringList even with one element.
type arg struct {
	kind argKind
	pos  Pos
	tag  string // without ':'
	num  int64
	strs []strLit
}

// testNode is a parsed test (RFC 5228 §8.2).
type testNode struct {
	pos      Pos
	name     string
	args     []arg
	tests    []*testNode
	testList bool // tests were in "( )"
}

// command is a parsed command (RFC 5228 §8.2).
type command struct {
	pos      Pos
	name     string
	args     []arg
	tests    []*testNode
	testList bool
	block    []*command
	hasBlock bool
	endPos   Pos // position of ";" or "}"
}

// dumpCommands renders the parse tree compactly for golden tests.
func dumpCommands(b *strings.Builder, cmds []*command, indent string) {
	for _, c := range cmds {
		fmt.Fprintf(b, "%s%d:%d %s", indent, c.pos.Line, c.pos.Col, c.name)
		dumpArgs(b, c.args)
		dumpTests(b, c.tests, c.testList)
		if c.hasBlock {
			b.WriteString(" {\n")
			dumpCommands(b, c.block, indent+"  ")
			b.WriteString(indent + "}")
		}
		b.WriteString("\n")
	}
}

func dumpArgs(b *strings.Builder, args []arg) {
	for _, a := range args {
		b.WriteString(" ")
		switch a.kind {
		case aTag:
			b.WriteString(":" + a.tag)
		case aNumber:
			fmt.Fprint(b, a.num)
		case aString:
			b.WriteString(dumpQuote(a.strs[0].value))
		case aStringList:
			vals := make([]string, len(a.strs))
			for i, s := range a.strs {
				vals[i] = dumpQuote(s.value)
			}
			b.WriteString("[" + strings.Join(vals, ", ") + "]")
		}
	}
}

func dumpTests(b *strings.Builder, tests []*testNode, list bool) {
	if len(tests) == 0 {
		return
	}
	if !list {
		b.WriteString(" ")
		dumpTest(b, tests[0])
		return
	}
	b.WriteString(" (")
	for i, t := range tests {
		if i > 0 {
			b.WriteString(", ")
		}
		dumpTest(b, t)
	}
	b.WriteString(")")
}

func dumpTest(b *strings.Builder, t *testNode) {
	b.WriteString(t.name)
	dumpArgs(b, t.args)
	dumpTests(b, t.tests, t.testList)
}

// dumpQuote quotes like the script would, with line breaks made visible.
func dumpQuote(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(quote(s))
}
