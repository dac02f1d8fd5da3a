package sieve

// parser builds the parse tree (RFC 5228 §8.2). Semantic checks happen
// afterwards in the checker.
type parser struct {
	lx       *lexer
	tok      token
	maxDepth int
	depth    int
}

func parseTree(src string, maxDepth int) ([]*command, error) {
	p := &parser{lx: newLexer(src), maxDepth: maxDepth}
	if err := p.next(); err != nil {
		return nil, err
	}
	cmds, err := p.commands()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, errAt(p.tok.pos, "unexpected %s", p.tok.describe())
	}
	return cmds, nil
}

func (p *parser) next() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) enter(pos Pos) error {
	p.depth++
	if p.depth > p.maxDepth {
		return errAt(pos, "nesting deeper than %d", p.maxDepth)
	}
	return nil
}

func (p *parser) commands() ([]*command, error) {
	var cmds []*command
	for p.tok.kind == tIdent {
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

func (p *parser) command() (*command, error) {
	c := &command{pos: p.tok.pos, name: p.tok.text}
	if err := p.next(); err != nil {
		return nil, err
	}
	var err error
	if c.args, c.tests, c.testList, err = p.arguments(); err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tSemicolon:
		c.endPos = p.tok.pos
		return c, p.next()
	case tLBrace:
		return c, p.block(c)
	}
	return nil, errAt(p.tok.pos, "expected \";\" or \"{\" after %s, found %s", c.name, p.tok.describe())
}

func (p *parser) block(c *command) error {
	if err := p.enter(p.tok.pos); err != nil {
		return err
	}
	defer func() { p.depth-- }()
	open := p.tok.pos
	if err := p.next(); err != nil {
		return err
	}
	cmds, err := p.commands()
	if err != nil {
		return err
	}
	if p.tok.kind != tRBrace {
		if p.tok.kind == tEOF {
			return errAt(open, "missing \"}\" for this block")
		}
		return errAt(p.tok.pos, "expected a command or \"}\", found %s", p.tok.describe())
	}
	c.block, c.hasBlock, c.endPos = cmds, true, p.tok.pos
	return p.next()
}

// arguments reads *argument [test / test-list].
func (p *parser) arguments() ([]arg, []*testNode, bool, error) {
	var args []arg
	for {
		a, ok, err := p.argument()
		if err != nil {
			return nil, nil, false, err
		}
		if !ok {
			break
		}
		args = append(args, a)
	}
	switch p.tok.kind {
	case tIdent:
		t, err := p.test()
		if err != nil {
			return nil, nil, false, err
		}
		return args, []*testNode{t}, false, nil
	case tLParen:
		tests, err := p.testList()
		return args, tests, true, err
	}
	return args, nil, false, nil
}

func (p *parser) argument() (arg, bool, error) {
	t := p.tok
	switch t.kind {
	case tTag:
		return arg{kind: aTag, pos: t.pos, tag: t.text}, true, p.next()
	case tNumber:
		return arg{kind: aNumber, pos: t.pos, num: t.num}, true, p.next()
	case tString:
		return arg{kind: aString, pos: t.pos, strs: []strLit{{t.pos, t.text}}}, true, p.next()
	case tLBracket:
		a, err := p.stringList()
		return a, true, err
	}
	return arg{}, false, nil
}

func (p *parser) stringList() (arg, error) {
	a := arg{kind: aStringList, pos: p.tok.pos}
	for {
		if err := p.next(); err != nil {
			return a, err
		}
		if p.tok.kind != tString {
			return a, errAt(p.tok.pos, "expected a string in the string list, found %s", p.tok.describe())
		}
		a.strs = append(a.strs, strLit{p.tok.pos, p.tok.text})
		if err := p.next(); err != nil {
			return a, err
		}
		switch p.tok.kind {
		case tRBracket:
			return a, p.next()
		case tComma:
			continue
		}
		return a, errAt(p.tok.pos, "expected \",\" or \"]\" in the string list, found %s", p.tok.describe())
	}
}

func (p *parser) test() (*testNode, error) {
	if p.tok.kind != tIdent {
		return nil, errAt(p.tok.pos, "expected a test, found %s", p.tok.describe())
	}
	if err := p.enter(p.tok.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	t := &testNode{pos: p.tok.pos, name: p.tok.text}
	if err := p.next(); err != nil {
		return nil, err
	}
	var err error
	t.args, t.tests, t.testList, err = p.arguments()
	return t, err
}

func (p *parser) testList() ([]*testNode, error) {
	var tests []*testNode
	for {
		if err := p.next(); err != nil {
			return nil, err
		}
		t, err := p.test()
		if err != nil {
			return nil, err
		}
		tests = append(tests, t)
		switch p.tok.kind {
		case tRParen:
			return tests, p.next()
		case tComma:
			continue
		}
		return nil, errAt(p.tok.pos, "expected \",\" or \")\" in the test list, found %s", p.tok.describe())
	}
}
