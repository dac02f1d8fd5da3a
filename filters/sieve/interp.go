package sieve

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// cmdNode is a compiled command; cond a compiled test.
type cmdNode interface {
	exec(r *run) error
}

type cond interface {
	eval(r *run) (bool, error)
}

// errStop unwinds the interpreter for the stop command (RFC 5228 §3.3).
var errStop = errors.New("stop")

// maxVarBytes bounds the memory all variables of one run may hold.
const maxVarBytes = 1 << 20

// run is the state of one execution.
type run struct {
	ctx        context.Context
	parent     context.Context
	env        *Env
	s          *Script
	steps      int
	sinceCheck int
	now        time.Time

	vars      map[string]string
	varBytes  int
	matchVars []string
	flags     []string // imap4flags internal variable (RFC 5232 §3)
	addrCache map[string]parsedAddrs

	res          Result
	actions      int
	explicitKeep bool
	cancelKeep   bool
	rejected     bool
	delivering   bool // keep, fileinto or redirect ran (reject conflicts)
	vacationRan  bool
}

// Run executes the script once for one message and one recipient.
func (s *Script) Run(ctx context.Context, env *Env) (*Result, error) {
	if env == nil {
		return nil, runtimeErr("no environment")
	}
	if env.Msg == nil {
		e := *env
		e.Msg = emptyMessage{}
		env = &e
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	r := &run{ctx: ctx, parent: parent, env: env, s: s, vars: map[string]string{}, now: env.Now}
	if r.now.IsZero() {
		r.now = time.Now()
	}
	if err := r.block(s.cmds); err != nil && err != errStop {
		return nil, err
	}
	return r.finish()
}

func (r *run) block(cmds []cmdNode) error {
	for _, c := range cmds {
		if err := r.step(1); err != nil {
			return err
		}
		if err := c.exec(r); err != nil {
			return err
		}
	}
	return nil
}

// step charges n units of the budget and checks the clock and context
// every 64 units.
func (r *run) step(n int) error {
	r.steps += n
	if r.steps > r.s.opt.MaxSteps {
		return fmt.Errorf("%w: more than %d steps", ErrBudget, r.s.opt.MaxSteps)
	}
	r.sinceCheck += n
	if r.sinceCheck < 64 {
		return nil
	}
	r.sinceCheck = 0
	return r.ctxErr()
}

func (r *run) ctxErr() error {
	if r.ctx.Err() == nil {
		return nil
	}
	if err := r.parent.Err(); err != nil {
		return fmt.Errorf("sieve: %w", err)
	}
	return fmt.Errorf("%w: timeout after %v", ErrBudget, r.s.opt.Timeout)
}

// scan charges the budget for a matcher looking at n bytes.
func (r *run) scan(n int) error { return r.step(1 + n/64) }

// action counts one delivering action against MaxActions.
func (r *run) action() error {
	r.actions++
	if r.actions > r.s.opt.MaxActions {
		return fmt.Errorf("%w: more than %d", ErrTooManyActions, r.s.opt.MaxActions)
	}
	return nil
}

// expand evaluates a string, substituting variables (RFC 5229 §3).
func (r *run) expand(s str) string {
	if s.parts == nil {
		return s.lit
	}
	var n int
	buf := make([]byte, 0, len(s.lit))
	for _, p := range s.parts {
		v := p.lit
		if p.isVar {
			v = r.lookup(p)
		}
		buf = append(buf, v...)
		if n = len(buf); n > maxValueLen {
			break
		}
	}
	return truncateUTF8(string(buf), maxValueLen)
}

func (r *run) lookup(p strPart) string {
	if p.num >= 0 {
		if p.num < len(r.matchVars) {
			return r.matchVars[p.num]
		}
		return ""
	}
	return r.vars[p.name]
}

// expandAll evaluates a list; constant lists share their cached values,
// which callers must not modify.
func (r *run) expandAll(ss strList) []string {
	if ss.lits != nil {
		return ss.lits
	}
	out := make([]string, len(ss.items))
	for i, s := range ss.items {
		out[i] = r.expand(s)
	}
	return out
}

func (r *run) setVar(name, value string) error {
	r.varBytes += len(value) - len(r.vars[name])
	if r.varBytes > maxVarBytes {
		return fmt.Errorf("%w: variables hold more than %d bytes", ErrBudget, maxVarBytes)
	}
	r.vars[name] = value
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// emptyMessage stands in when Env.Msg is nil.
type emptyMessage struct{}

func (emptyMessage) Header(string) []string    { return nil }
func (emptyMessage) RawHeader(string) []string { return nil }
func (emptyMessage) Size() int64               { return 0 }
func (emptyMessage) Body(context.Context, string, []string) ([]string, error) {
	return nil, nil
}
