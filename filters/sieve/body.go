package sieve

import (
	"fmt"
	"slices"
)

// body (RFC 5173): body [COMPARATOR] [MATCH-TYPE] [BODY-TRANSFORM] <keys>.

type bodyCond struct {
	transform string // "raw", "content" or "text" (the default, §5)
	types     strList
	m         *matcher
}

func (n *bodyCond) eval(r *run) (bool, error) {
	if err := r.step(1); err != nil {
		return false, err
	}
	texts, err := r.env.Msg.Body(r.ctx, n.transform, slices.Clone(r.expandAll(n.types)))
	if err != nil {
		if cerr := r.ctxErr(); cerr != nil {
			return false, cerr
		}
		return false, fmt.Errorf("%w: body: %w", ErrRuntime, err)
	}
	return n.m.match(r, texts)
}

func buildBody(c *checker, x *call) (any, error) {
	n := &bodyCond{transform: "text"}
	switch {
	case x.has("raw"):
		n.transform = "raw"
	case x.has("content"):
		n.transform = "content"
		var err error
		if n.types, err = c.strs(x.tags["content"]); err != nil {
			return nil, err
		}
	}
	m, err := c.matcher(x, x.pos2[0])
	if err == nil && m.typ == mList {
		return nil, errAt(x.pos, "body does not take :list")
	}
	n.m = m
	return n, err
}

func init() {
	testSpecs["body"] = &spec{ext: "body", tags: withMatch(
		tagDef{name: "raw", arg: aTag, group: "transform"},
		tagDef{name: "content", arg: aStringList, group: "transform"},
		tagDef{name: "text", arg: aTag, group: "transform"},
	), pos: []argKind{aStringList}, build: buildBody}
}
