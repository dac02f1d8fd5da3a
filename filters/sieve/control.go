package sieve

// Control commands: if/elsif/else, stop (RFC 5228 §3). require is
// handled by the checker itself (§3.2).

type ifBranch struct {
	test  cond
	block []cmdNode
}

type ifCmd struct {
	branches []ifBranch
	orElse   []cmdNode
}

func (n *ifCmd) exec(r *run) error {
	for _, b := range n.branches {
		ok, err := b.test.eval(r)
		if err != nil {
			return err
		}
		if ok {
			return r.block(b.block)
		}
	}
	return r.block(n.orElse)
}

var controlSpec = &spec{test: oneTest, block: true}

// ifChain compiles "if" and the elsif/else commands that follow it
// (RFC 5228 §3.1); it returns how many commands it used.
func (c *checker) ifChain(cmds []*command) (cmdNode, int, error) {
	n := &ifCmd{}
	used := 0
	for _, cmd := range cmds {
		if used > 0 && cmd.name != "elsif" && cmd.name != "else" {
			break
		}
		used++
		sp := controlSpec
		if cmd.name == "else" {
			sp = &spec{block: true}
		}
		x, err := c.bind(sp, cmd.pos, cmd.name, cmd.args, cmd.tests, cmd.testList, false)
		if err != nil {
			return nil, 0, err
		}
		if !cmd.hasBlock {
			return nil, 0, errAt(cmd.endPos, "%s needs a block", cmd.name)
		}
		block, err := c.commands(cmd.block, false)
		if err != nil {
			return nil, 0, err
		}
		if cmd.name == "else" {
			n.orElse = block
			break
		}
		t, err := c.test(x.tests[0])
		if err != nil {
			return nil, 0, err
		}
		n.branches = append(n.branches, ifBranch{t, block})
	}
	return n, used, nil
}

type stopCmd struct{}

func (stopCmd) exec(*run) error { return errStop }

func init() {
	commandSpecs["stop"] = &spec{build: func(*checker, *call) (any, error) { return stopCmd{}, nil }}
}
