package sieve

// mailbox (RFC 5490 §3): the mailboxexists test; fileinto :create is in
// actions.go.

type mailboxExistsCond struct{ names strList }

// eval is true when every named mailbox exists (RFC 5490 §3.1); without
// the hook nothing is known to exist.
func (n *mailboxExistsCond) eval(r *run) (bool, error) {
	for _, name := range r.expandAll(n.names) {
		if err := r.step(1); err != nil {
			return false, err
		}
		if r.env.MailboxExists == nil || !r.env.MailboxExists(r.ctx, name) {
			return false, nil
		}
	}
	return true, nil
}

func buildMailboxExists(c *checker, x *call) (any, error) {
	names, err := c.strs(x.pos2[0])
	return &mailboxExistsCond{names: names}, err
}

func init() {
	testSpecs["mailboxexists"] = &spec{ext: "mailbox", pos: []argKind{aStringList}, build: buildMailboxExists}
}
