package sieve

import (
	"fmt"
	"net/mail"
	"strings"
)

// Core actions: keep, discard, redirect (RFC 5228 §4) and fileinto
// (§4.1), with :copy (RFC 3894), :create (RFC 5490 §3.2) and :flags
// (RFC 5232 §5).

type keepCmd struct{ flags *strList } // flags nil: the internal variable

func (n *keepCmd) exec(r *run) error {
	if err := r.action(); err != nil {
		return err
	}
	if err := r.checkReject(); err != nil {
		return err
	}
	r.explicitKeep, r.delivering = true, true
	r.fileinto(FileInto{Mailbox: "INBOX", Flags: r.actionFlags(n.flags)})
	return nil
}

type discardCmd struct{}

func (discardCmd) exec(r *run) error {
	r.cancelKeep = true
	r.res.Discard = true
	return nil
}

type fileintoCmd struct {
	mailbox      str
	copy, create bool
	flags        *strList
}

func (n *fileintoCmd) exec(r *run) error {
	if err := r.action(); err != nil {
		return err
	}
	if err := r.checkReject(); err != nil {
		return err
	}
	box := r.expand(n.mailbox)
	if box == "" {
		return runtimeErr("fileinto: empty mailbox name")
	}
	r.delivering = true
	if !n.copy {
		r.cancelKeep = true // RFC 5228 §4.1; RFC 3894 §3
	}
	r.fileinto(FileInto{Mailbox: box, Create: n.create, Flags: r.actionFlags(n.flags)})
	return nil
}

type redirectCmd struct {
	addr str
	copy bool
}

func (n *redirectCmd) exec(r *run) error {
	if err := r.action(); err != nil {
		return err
	}
	if err := r.checkReject(); err != nil {
		return err
	}
	addr := r.expand(n.addr)
	if err := validAddress(addr); err != nil {
		return runtimeErr("redirect: %v", err)
	}
	r.delivering = true
	if !n.copy {
		r.cancelKeep = true
	}
	return r.redirect(Redirect{Address: addr, Copy: n.copy})
}

// redirect merges redirects to one address (RFC 5228 §4.2: never send the
// same message twice to one address) and enforces MaxRedirects.
func (r *run) redirect(red Redirect) error {
	for i := range r.res.Redirects {
		if strings.EqualFold(r.res.Redirects[i].Address, red.Address) {
			r.res.Redirects[i].Copy = r.res.Redirects[i].Copy && red.Copy
			return nil
		}
	}
	if len(r.res.Redirects) >= r.s.opt.MaxRedirects {
		return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, r.s.opt.MaxRedirects)
	}
	r.res.Redirects = append(r.res.Redirects, red)
	return nil
}

// validAddress accepts a bare addr-spec (RFC 5228 §4.2).
func validAddress(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || strings.ContainsAny(s, "<>") {
		return fmt.Errorf("invalid address %s", quote(s))
	}
	return nil
}

func buildKeep(c *checker, x *call) (any, error) {
	flags, err := c.flagsTag(x)
	return &keepCmd{flags: flags}, err
}

func buildFileinto(c *checker, x *call) (any, error) {
	box, err := c.strArg(x.pos2[0])
	if err != nil {
		return nil, err
	}
	if box.constant() && box.lit == "" {
		return nil, errAt(box.pos, "empty mailbox name")
	}
	flags, err := c.flagsTag(x)
	return &fileintoCmd{mailbox: box, copy: x.has("copy"), create: x.has("create"), flags: flags}, err
}

func buildRedirect(c *checker, x *call) (any, error) {
	addr, err := c.strArg(x.pos2[0])
	if err != nil {
		return nil, err
	}
	if addr.constant() {
		if err := validAddress(addr.lit); err != nil {
			return nil, errAt(addr.pos, "redirect: %v", err)
		}
	}
	return &redirectCmd{addr: addr, copy: x.has("copy")}, nil
}

var (
	copyTag   = tagDef{name: "copy", ext: "copy", arg: aTag}
	flagsTag  = tagDef{name: "flags", ext: "imap4flags", arg: aStringList}
	createTag = tagDef{name: "create", ext: "mailbox", arg: aTag}
)

func init() {
	commandSpecs["keep"] = &spec{tags: []tagDef{flagsTag}, build: buildKeep}
	commandSpecs["discard"] = &spec{build: func(*checker, *call) (any, error) { return discardCmd{}, nil }}
	commandSpecs["redirect"] = &spec{tags: []tagDef{copyTag}, pos: []argKind{aString}, build: buildRedirect}
	commandSpecs["fileinto"] = &spec{ext: "fileinto", tags: []tagDef{copyTag, flagsTag, createTag},
		pos: []argKind{aString}, build: buildFileinto}
}
