package imapd

import (
	"errors"
	"io"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode every charset when searching text

	"github.com/tidings/tidings/mail/imapd/imapserver"
	"github.com/tidings/tidings/mail/store"
)

// maxSearchPart bounds how much of one body part a text search reads.
const maxSearchPart = 16 << 20

// Search is SEARCH and UID SEARCH (RFC 9051 §6.4.4), with the ESEARCH
// return options (RFC 4731) and SAVE (RFC 5182). Flags, sizes and dates
// come from the cached fields; From/To/Cc/Bcc and Subject are matched by
// the store, one query per key; other header fields, BODY and TEXT read
// the messages.
func (x *session) Search(kind imapserver.NumKind, c *imap.SearchCriteria, opt *imap.SearchOptions) (_ *imap.SearchData, err error) {
	x.enter()
	defer x.leave(&err)
	sel, err := x.selectedBox()
	if err != nil {
		return nil, err
	}
	items := x.items(sel, imap.SeqSet{{Start: 1, Stop: 0}})
	m := &matcher{x: x, sel: sel, c: c, cached: map[cachedKey][]uint32{}}
	sel.box.mu.Lock()
	m.seqStar, m.uidStar = x.clientCount(sel), sel.box.lastUID()
	sel.box.mu.Unlock()
	if err := m.searchCached(c); err != nil {
		return nil, x.fail(err, "search")
	}
	// Criteria that need no message row, and cannot hold for a message
	// that no longer exists (a cached header key at the top), read no rows,
	// and skip the messages the store did not find for such a key.
	must := m.topCached(c)
	rowless := !needsRow(c) && len(must) > 0
	withEnvelope := needsEnvelope(c)
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	var noRow store.Message // what a rowless search matches against
	for start := 0; start < len(items); start += fetchBatch {
		batch := items[start:min(start+fetchBatch, len(items))]
		var byUID map[uint32]*store.Message
		if !rowless {
			ms, err := x.s.store.List(x.ctx, sel.box.id, uidRanges(uidsOf(batch)), withEnvelope)
			if err != nil {
				return nil, x.fail(err, "search")
			}
			byUID = make(map[uint32]*store.Message, len(ms))
			for i := range ms {
				byUID[ms[i].UID] = &ms[i]
			}
		}
		for _, it := range batch {
			if rowless && !inAll(must, it.uid) {
				continue
			}
			noRow.UID = it.uid
			msg := &noRow
			if !rowless {
				if msg = byUID[it.uid]; msg == nil {
					continue
				}
			}
			ok, err := m.matchMessage(it, msg)
			if err != nil {
				return nil, x.fail(err, "search")
			}
			if !ok {
				continue
			}
			uids.AddNum(imap.UID(it.uid))
			num := it.seq
			if kind == imapserver.NumKindUID {
				num = it.uid
			} else {
				seqs.AddNum(it.seq)
			}
			// RFC 7162 §3.1.5; imapserver sends it only when a MODSEQ key was used.
			data.ModSeq = max(data.ModSeq, msg.ModSeq)
			data.Min = minNonZero(data.Min, num)
			data.Max = max(data.Max, num)
			data.Count++
		}
	}
	if kind == imapserver.NumKindUID {
		data.All = uids
	} else {
		data.All = seqs
	}
	if opt.ReturnSave {
		x.searchRes = uids
	}
	return data, nil
}

func minNonZero(a, b uint32) uint32 {
	if a == 0 {
		return b
	}
	return min(a, b)
}

// matcher evaluates search criteria against messages.
type matcher struct {
	x                *session
	sel              *selected
	c                *imap.SearchCriteria
	seqStar, uidStar uint32
	body             *lazyBody // of the message being matched
	// cached holds, for each key on a cached header field, the UIDs that
	// match it, ascending: the store matches those in one query each.
	cached map[cachedKey][]uint32
}

type cachedKey struct {
	field store.HeaderField
	value string
}

// searchCached asks the store for the matches of every key of c on a
// cached header field (FROM, TO, CC, BCC, SUBJECT).
func (m *matcher) searchCached(c *imap.SearchCriteria) error {
	for _, h := range c.Header {
		f, ok := store.CachedField(h.Key)
		k := cachedKey{f, h.Value}
		if _, done := m.cached[k]; !ok || done {
			continue
		}
		uids, err := m.x.s.store.SearchHeader(m.x.ctx, m.sel.box.id, f, h.Value)
		if err != nil {
			return err
		}
		m.cached[k] = uids
	}
	for i := range c.Not {
		if err := m.searchCached(&c.Not[i]); err != nil {
			return err
		}
	}
	for i := range c.Or {
		if err := m.searchCached(&c.Or[i][0]); err != nil {
			return err
		}
		if err := m.searchCached(&c.Or[i][1]); err != nil {
			return err
		}
	}
	return nil
}

// topCached returns the store's matches of the keys of c itself (not under
// NOT or OR) on cached header fields: a message must be in each to match.
func (m *matcher) topCached(c *imap.SearchCriteria) [][]uint32 {
	var out [][]uint32
	for _, h := range c.Header {
		if f, ok := store.CachedField(h.Key); ok {
			out = append(out, m.cached[cachedKey{f, h.Value}])
		}
	}
	return out
}

// inAll reports whether uid is in each of the ascending lists.
func inAll(lists [][]uint32, uid uint32) bool {
	for _, l := range lists {
		if _, ok := slices.BinarySearch(l, uid); !ok {
			return false
		}
	}
	return true
}

func (m *matcher) matchMessage(it item, msg *store.Message) (bool, error) {
	m.body = &lazyBody{x: m.x, box: m.sel.box.id, uid: it.uid}
	defer m.body.close()
	ok, err := m.match(it, msg, m.c)
	if errors.Is(err, store.ErrNoMessage) {
		return false, nil // expunged while we read it
	}
	return ok, err
}

// match applies one criteria level: every field must hold (RFC 9051
// §6.4.4: keys are ANDed).
func (m *matcher) match(it item, msg *store.Message, c *imap.SearchCriteria) (bool, error) {
	if !m.inSets(it, c) || !matchDay(msg.InternalDate, c.Since, c.Before) || !matchFlags(msg.Flags, c) ||
		c.Larger != 0 && msg.Size <= c.Larger || c.Smaller != 0 && msg.Size >= c.Smaller ||
		c.ModSeq != nil && msg.ModSeq < c.ModSeq.ModSeq { // RFC 7162 §3.1.5: at least this MODSEQ
		return false, nil
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		sent := sentDate(msg)
		if sent.IsZero() || !matchDay(sent, c.SentSince, c.SentBefore) {
			return false, nil
		}
	}
	for _, h := range c.Header {
		if ok, err := m.matchHeader(it.uid, h); !ok || err != nil {
			return false, err
		}
	}
	for _, needle := range c.Body {
		if ok, err := m.matchText(needle, false); !ok || err != nil {
			return false, err
		}
	}
	for _, needle := range c.Text {
		if ok, err := m.matchText(needle, true); !ok || err != nil {
			return false, err
		}
	}
	for i := range c.Not {
		if ok, err := m.match(it, msg, &c.Not[i]); ok || err != nil {
			return false, err
		}
	}
	for i := range c.Or {
		a, err := m.match(it, msg, &c.Or[i][0])
		if err != nil {
			return false, err
		}
		if !a {
			if b, err := m.match(it, msg, &c.Or[i][1]); !b || err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// inSets checks sequence sets, UID sets and $ (RFC 5182).
func (m *matcher) inSets(it item, c *imap.SearchCriteria) bool {
	for _, s := range c.SeqNum {
		if imap.IsSearchRes(s) {
			if !m.x.searchRes.Contains(imap.UID(it.uid)) {
				return false
			}
		} else if !inSpans(seqSpans(s, m.seqStar), it.seq) {
			return false
		}
	}
	for _, s := range c.UID {
		if imap.IsSearchRes(s) {
			if !m.x.searchRes.Contains(imap.UID(it.uid)) {
				return false
			}
		} else if !inSpans(uidSpans(s, m.uidStar), it.uid) {
			return false
		}
	}
	return true
}

func matchFlags(flags []string, c *imap.SearchCriteria) bool {
	has := func(f imap.Flag) bool {
		for _, g := range flags {
			if strings.EqualFold(g, string(f)) {
				return true
			}
		}
		return false
	}
	for _, f := range c.Flag {
		if !has(f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if has(f) {
			return false
		}
	}
	return true
}

// matchDay compares dates only, disregarding time and zone (RFC 9051
// §6.4.4, SINCE/BEFORE/ON).
func matchDay(t, since, before time.Time) bool {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return (since.IsZero() || !d.Before(since)) && (before.IsZero() || d.Before(before))
}

// sentDate is the Date header's date in the sender's zone, if cached.
func sentDate(msg *store.Message) time.Time {
	if msg.Envelope != nil {
		if t, err := mail.ParseDate(unfold.Replace(msg.Envelope.Date)); err == nil {
			return t
		}
	}
	return msg.SentDate
}

// matchHeader: address fields and Subject from the store's matches,
// others from the message (RFC 9051 §6.4.4 HEADER, FROM, TO, CC, BCC,
// SUBJECT: substring, case-insensitive; an empty value matches any message
// with the field).
func (m *matcher) matchHeader(uid uint32, h imap.SearchCriteriaHeaderField) (bool, error) {
	if f, ok := store.CachedField(h.Key); ok {
		_, found := slices.BinarySearch(m.cached[cachedKey{f, h.Value}], uid)
		return found, nil
	}
	return m.matchRawHeader(h.Key, strings.ToLower(h.Value))
}

func (m *matcher) matchRawHeader(key, needle string) (bool, error) {
	var values []string
	err := m.body.use(func(r io.Reader) {
		h := message.Header{Header: readHeader(r)}
		for f := h.FieldsByKey(key); f.Next(); {
			v, err := f.Text()
			if err != nil {
				v = f.Value()
			}
			values = append(values, v)
		}
	})
	return len(values) > 0 && containsAny(values, needle), err
}

func containsAny(values []string, lowerNeedle string) bool {
	for _, v := range values {
		if strings.Contains(strings.ToLower(v), lowerNeedle) {
			return true
		}
	}
	return false
}

// matchText searches the decoded text parts (and with header, the
// header fields) for needle: BODY and TEXT.
func (m *matcher) matchText(needle string, header bool) (bool, error) {
	if needle == "" {
		return true, nil
	}
	found := false
	err := m.body.use(func(r io.Reader) {
		e, err := message.Read(r)
		if e == nil {
			_ = err // unreadable: no match
			return
		}
		found = entityContains(e, strings.ToLower(needle), header)
	})
	return found, err
}

func entityContains(e *message.Entity, needle string, header bool) bool {
	if header {
		for f := e.Header.Fields(); f.Next(); {
			v, err := f.Text()
			if err != nil {
				v = f.Value()
			}
			if strings.Contains(strings.ToLower(f.Key()+": "+v), needle) {
				return true
			}
		}
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err != nil {
				return false
			}
			if entityContains(p, needle, header) {
				return true
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if t == "message/rfc822" || t == "message/global" {
		if inner, _ := message.Read(e.Body); inner != nil {
			return entityContains(inner, needle, header)
		}
		return false
	}
	if t != "" && !strings.HasPrefix(t, "text/") {
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(e.Body, maxSearchPart))
	return strings.Contains(strings.ToLower(string(b)), needle)
}

// needsEnvelope reports whether criteria use the sent date.
func needsEnvelope(c *imap.SearchCriteria) bool {
	return anyKey(c, func(c *imap.SearchCriteria) bool { return !c.SentSince.IsZero() || !c.SentBefore.IsZero() })
}

// needsRow reports whether criteria use a message's row: its flags,
// dates, size or MODSEQ.
func needsRow(c *imap.SearchCriteria) bool {
	return anyKey(c, func(c *imap.SearchCriteria) bool {
		return len(c.Flag) > 0 || len(c.NotFlag) > 0 || !c.Since.IsZero() || !c.Before.IsZero() || !c.SentSince.IsZero() ||
			!c.SentBefore.IsZero() || c.Larger != 0 || c.Smaller != 0 || c.ModSeq != nil
	})
}

// anyKey reports whether has holds for c or for any criteria under its
// NOT and OR keys.
func anyKey(c *imap.SearchCriteria, has func(*imap.SearchCriteria) bool) bool {
	if has(c) {
		return true
	}
	for i := range c.Not {
		if anyKey(&c.Not[i], has) {
			return true
		}
	}
	for i := range c.Or {
		if anyKey(&c.Or[i][0], has) || anyKey(&c.Or[i][1], has) {
			return true
		}
	}
	return false
}
