package sieve

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// enotify (RFC 5435): the notify action and the valid_notify_method and
// notify_method_capability tests; :encodeurl is in variables.go.

type notifyCmd struct {
	method     str
	from       *str
	importance *str
	options    strList
	message    *str
}

func (n *notifyCmd) exec(r *run) error {
	if err := r.action(); err != nil {
		return err
	}
	method := r.expand(n.method)
	if scheme, _ := notifyMethod(method); scheme == "" {
		return nil // RFC 5435 §3.1: an invalid method at run time is ignored
	}
	nt := Notify{
		Method:     method,
		From:       r.expandOpt(n.from),
		Importance: 2, // RFC 5435 §3.3
		Options:    slices.Clone(r.expandAll(n.options)),
		Message:    r.expandOpt(n.message),
	}
	if n.importance != nil {
		imp, err := strconv.Atoi(r.expand(*n.importance))
		if err != nil || imp < 1 || imp > 3 {
			return runtimeErr("notify: :importance must be 1, 2 or 3")
		}
		nt.Importance = imp
	}
	return r.notify(nt)
}

// notify drops a notification identical to one already queued
// (RFC 5435 §3: duplicates are collapsed) and enforces MaxNotifies.
func (r *run) notify(nt Notify) error {
	for _, o := range r.res.Notifies {
		if o.Method == nt.Method && o.From == nt.From && o.Importance == nt.Importance &&
			o.Message == nt.Message && slices.Equal(o.Options, nt.Options) {
			return nil
		}
	}
	if len(r.res.Notifies) >= r.s.opt.MaxNotifies {
		return fmt.Errorf("%w: more than %d", ErrTooManyNotifies, r.s.opt.MaxNotifies)
	}
	r.res.Notifies = append(r.res.Notifies, nt)
	return nil
}

type validNotifyCond struct{ uris strList }

func (n *validNotifyCond) eval(r *run) (bool, error) {
	for _, u := range r.expandAll(n.uris) {
		if err := r.step(1); err != nil {
			return false, err
		}
		if scheme, _ := notifyMethod(u); scheme == "" {
			return false, nil
		}
	}
	return true, nil
}

type notifyCapCond struct {
	uri, capability str
	m               *matcher
}

// eval implements notify_method_capability (RFC 5435 §5): the only
// capability defined is "online", answered by the hook, "maybe" without one.
func (n *notifyCapCond) eval(r *run) (bool, error) {
	if err := r.step(1); err != nil {
		return false, err
	}
	uri, capability := r.expand(n.uri), strings.ToLower(r.expand(n.capability))
	if scheme, _ := notifyMethod(uri); scheme == "" || capability != "online" {
		return false, nil
	}
	value := "maybe"
	if r.env.NotifyCapability != nil {
		value = r.env.NotifyCapability(r.ctx, uri, capability)
	}
	return n.m.match(r, []string{value})
}

func buildNotify(c *checker, x *call) (any, error) {
	n := &notifyCmd{}
	var err error
	if n.method, err = c.strArg(x.pos2[0]); err != nil {
		return nil, err
	}
	if n.method.constant() {
		if scheme, why := notifyMethod(n.method.lit); scheme == "" {
			return nil, errAt(n.method.pos, "notify: %s: %s", quote(n.method.lit), why)
		}
	}
	if n.from, err = c.optStr(x, "from"); err != nil {
		return nil, err
	}
	if n.message, err = c.optStr(x, "message"); err != nil {
		return nil, err
	}
	if n.importance, err = c.optStr(x, "importance"); err != nil {
		return nil, err
	}
	if imp := n.importance; imp != nil && imp.constant() && (imp.lit < "1" || imp.lit > "3" || len(imp.lit) != 1) {
		return nil, errAt(imp.pos, "notify: :importance must be \"1\", \"2\" or \"3\" (RFC 5435 §3.3)")
	}
	if a, ok := x.tags["options"]; ok {
		n.options, err = c.strs(a)
	}
	return n, err
}

func buildValidNotify(c *checker, x *call) (any, error) {
	uris, err := c.strs(x.pos2[0])
	return &validNotifyCond{uris: uris}, err
}

func buildNotifyCap(c *checker, x *call) (any, error) {
	n := &notifyCapCond{}
	var err error
	if n.uri, err = c.strArg(x.pos2[0]); err != nil {
		return nil, err
	}
	if n.capability, err = c.strArg(x.pos2[1]); err != nil {
		return nil, err
	}
	n.m, err = c.matcher(x, x.pos2[2])
	if err == nil && n.m.typ == mList {
		return nil, errAt(x.pos, "notify_method_capability does not take :list")
	}
	return n, err
}

func init() {
	commandSpecs["notify"] = &spec{ext: "enotify", tags: []tagDef{
		{name: "from", arg: aString},
		{name: "importance", arg: aString},
		{name: "options", arg: aStringList},
		{name: "message", arg: aString},
	}, pos: []argKind{aString}, build: buildNotify}
	testSpecs["valid_notify_method"] = &spec{ext: "enotify", pos: []argKind{aStringList}, build: buildValidNotify}
	testSpecs["notify_method_capability"] = &spec{ext: "enotify", tags: withMatch(),
		pos: []argKind{aString, aString, aStringList}, build: buildNotifyCap}
}
