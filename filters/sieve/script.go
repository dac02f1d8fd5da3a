package sieve

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Script is a compiled script, safe for concurrent Runs.
type Script struct {
	opt      Options
	requires []string
	caps     map[string]bool
	tree     []*command
	cmds     []cmdNode
}

// Parse compiles a script: lexing, parsing and semantic validation. The
// error is an *Error with the position of the offending token.
func Parse(src []byte, opt Options) (*Script, error) {
	opt = opt.withDefaults()
	if len(src) > opt.MaxScriptSize {
		return nil, &Error{Line: 1, Col: 1, Msg: "script larger than " + itoa(int64(opt.MaxScriptSize)) + " bytes"}
	}
	if !utf8.Valid(src) {
		return nil, errAt(invalidUTF8Pos(src), "script is not valid UTF-8")
	}
	tree, err := parseTree(string(src), opt.MaxNesting)
	if err != nil {
		return nil, err
	}
	c := &checker{opt: opt, required: map[string]bool{}}
	cmds, err := c.commands(tree, true)
	if err != nil {
		return nil, err
	}
	return &Script{opt: opt, requires: c.requires, caps: c.required, tree: tree, cmds: cmds}, nil
}

// Requires returns the capabilities the script's require commands name,
// in order of first appearance.
func (s *Script) Requires() []string { return slices.Clone(s.requires) }

// dump renders the parse tree (golden tests).
func (s *Script) dump() string {
	var b strings.Builder
	dumpCommands(&b, s.tree, "")
	return b.String()
}

func invalidUTF8Pos(src []byte) Pos {
	p := Pos{1, 1}
	for len(src) > 0 {
		r, n := utf8.DecodeRune(src)
		if r == utf8.RuneError && n <= 1 {
			return p
		}
		if r == '\n' {
			p.Line++
			p.Col = 1
		} else {
			p.Col++
		}
		src = src[n:]
	}
	return p
}
