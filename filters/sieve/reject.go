package sieve

import "fmt"

// reject and ereject (RFC 5429).

type rejectCmd struct {
	reason   str
	extended bool
}

func (n *rejectCmd) exec(r *run) error {
	if err := r.action(); err != nil {
		return err
	}
	if r.rejected || r.delivering || r.vacationRan {
		return fmt.Errorf("%w: reject cannot be combined with keep, fileinto, redirect, vacation or another reject (RFC 5429 §2.1)", ErrConflict)
	}
	r.rejected, r.cancelKeep = true, true // RFC 5429 §2.1: cancels implicit keep
	r.res.Reject = &Reject{Reason: r.expand(n.reason), Extended: n.extended}
	return nil
}

// checkReject fails an action that cannot follow a reject.
func (r *run) checkReject() error {
	if r.rejected {
		return fmt.Errorf("%w: reject cannot be combined with keep, fileinto, redirect or vacation (RFC 5429 §2.1)", ErrConflict)
	}
	return nil
}

func buildReject(extended bool) func(*checker, *call) (any, error) {
	return func(c *checker, x *call) (any, error) {
		reason, err := c.strArg(x.pos2[0])
		return &rejectCmd{reason: reason, extended: extended}, err
	}
}

func init() {
	commandSpecs["reject"] = &spec{ext: "reject", pos: []argKind{aString}, build: buildReject(false)}
	commandSpecs["ereject"] = &spec{ext: "ereject", pos: []argKind{aString}, build: buildReject(true)}
}
