package sieve

import (
	"strings"
	"unicode/utf8"
)

// pattern is a compiled :matches key (RFC 5228 §2.7.1): segments of
// literal text and "?" separated by "*". Matching places every middle
// segment at its earliest position, so it runs in O(len(text)*len(pattern))
// at worst with no backtracking, and gives each "*" the shortest match
// from the left, as RFC 5229 §3.2's examples expect.
type pattern struct {
	segs []segment // len(segs) = number of "*" + 1
}

type segment []segPart

type segPart struct {
	lit string // literal (already folded); "" means "?"
}

func compilePattern(key string, c comparator) pattern {
	var p pattern
	var seg segment
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			seg = append(seg, segPart{lit: c.fold(lit.String())})
			lit.Reset()
		}
	}
	for i := 0; i < len(key); i++ {
		switch ch := key[i]; ch {
		case '\\':
			if i+1 < len(key) {
				i++
				lit.WriteByte(key[i])
			}
		case '?':
			flush()
			seg = append(seg, segPart{})
		case '*':
			flush()
			p.segs = append(p.segs, seg)
			seg = nil
		default:
			lit.WriteByte(ch)
		}
	}
	flush()
	p.segs = append(p.segs, seg)
	return p
}

// matchAt matches seg at text[i:]; it returns the end and appends what
// each "?" matched to caps.
func (s segment) matchAt(text, orig string, i int, caps []string) (int, []string, bool) {
	for _, p := range s {
		if p.lit != "" {
			if !strings.HasPrefix(text[i:], p.lit) {
				return 0, caps, false
			}
			i += len(p.lit)
			continue
		}
		if i >= len(text) {
			return 0, caps, false
		}
		_, n := utf8.DecodeRuneInString(text[i:])
		caps = append(caps, orig[i:i+n])
		i += n
	}
	return i, caps, true
}

// matchSuffix matches seg so that it ends exactly at end; it returns the start.
func (s segment) matchSuffix(text, orig string, lo, end int) (int, []string, bool) {
	var caps []string
	i := end
	for k := len(s) - 1; k >= 0; k-- {
		p := s[k]
		if p.lit != "" {
			if i-len(p.lit) < lo || text[i-len(p.lit):i] != p.lit {
				return 0, nil, false
			}
			i -= len(p.lit)
			continue
		}
		if i <= lo {
			return 0, nil, false
		}
		_, n := utf8.DecodeLastRuneInString(text[lo:i])
		caps = append(caps, orig[i-n:i])
		i -= n
	}
	for l, r := 0, len(caps)-1; l < r; l, r = l+1, r-1 {
		caps[l], caps[r] = caps[r], caps[l]
	}
	return i, caps, true
}

// find places seg at its earliest position in text[from:to].
func (s segment) find(r *run, text, orig string, from, to int) (int, int, []string, bool, error) {
	if len(s) == 1 && s[0].lit != "" {
		if err := r.scan(to - from); err != nil {
			return 0, 0, nil, false, err
		}
		k := strings.Index(text[from:to], s[0].lit)
		if k < 0 {
			return 0, 0, nil, false, nil
		}
		return from + k, from + k + len(s[0].lit), nil, true, nil
	}
	for i := from; i <= to; i++ {
		if i < to && !utf8.RuneStart(text[i]) {
			continue
		}
		if err := r.step(1); err != nil {
			return 0, 0, nil, false, err
		}
		if end, caps, ok := s.matchAt(text[:to], orig, i, nil); ok {
			return i, end, caps, true, nil
		}
	}
	return 0, 0, nil, false, nil
}

// match reports whether orig (folded: text) matches; caps gets ${0}..${N}.
func (p pattern) match(r *run, text, orig string) (bool, []string, error) {
	if err := r.step(1); err != nil {
		return false, nil, err
	}
	caps := []string{orig}
	first := p.segs[0]
	if len(p.segs) == 1 {
		end, c, ok := first.matchAt(text, orig, 0, caps)
		return ok && end == len(text), c, nil
	}
	pos, c, ok := first.matchAt(text, orig, 0, caps)
	if !ok {
		return false, nil, nil
	}
	caps = c
	last := p.segs[len(p.segs)-1]
	sufStart, sufCaps, ok := last.matchSuffix(text, orig, pos, len(text))
	if !ok {
		return false, nil, nil
	}
	for _, seg := range p.segs[1 : len(p.segs)-1] {
		start, end, segCaps, ok, err := seg.find(r, text, orig, pos, sufStart)
		if err != nil || !ok {
			return false, nil, err
		}
		caps = append(caps, orig[pos:start])
		caps = append(caps, segCaps...)
		pos = end
	}
	caps = append(caps, orig[pos:sufStart])
	return true, append(caps, sufCaps...), nil
}
