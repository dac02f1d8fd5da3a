package imapd

import (
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/imapd/imapserver"
	"github.com/tidings/tidings/mail/store"
)

const (
	// fetchBatch bounds how many messages one store query loads.
	fetchBatch = 256
	// streamAbove: whole-message sections larger than this are streamed
	// from the store into the response instead of being read first. A
	// store error in the middle of such a literal cannot be reported, so
	// the connection is closed.
	streamAbove = 1 << 20
)

// Fetch is FETCH and UID FETCH (RFC 9051 §6.4.5, BINARY from RFC 3516).
func (x *session) Fetch(w *imapserver.FetchWriter, set imap.NumSet, opt *imap.FetchOptions) (err error) {
	x.enter()
	defer x.leave(&err)
	sel, err := x.selectedBox()
	if err != nil {
		return err
	}
	items := x.items(sel, set)
	if opt.ChangedSince != 0 {
		items = sel.box.changedSince(items, opt.ChangedSince)
	}
	if len(items) == 0 {
		return nil
	}
	seen, err := x.markSeen(sel, items, opt)
	if err != nil {
		return err
	}
	return x.fetchItems(w, sel, items, opt, seen)
}

// fetchItems writes a FETCH response for each message of items that still
// exists; seen holds the UIDs whose FLAGS must be sent anyway.
func (x *session) fetchItems(w *imapserver.FetchWriter, sel *selected, items []item, opt *imap.FetchOptions, seen map[uint32]bool) error {
	for start := 0; start < len(items); start += fetchBatch {
		batch := items[start:min(start+fetchBatch, len(items))]
		ms, err := x.s.store.List(x.ctx, sel.box.id, uidRanges(uidsOf(batch)), opt.Envelope)
		if err != nil {
			return x.fail(err, "fetch")
		}
		byUID := make(map[uint32]store.Message, len(ms))
		for _, m := range ms {
			byUID[m.UID] = m
		}
		var told []store.Message
		for _, it := range batch {
			m, ok := byUID[it.uid]
			if !ok {
				continue // expunged meanwhile; its EXPUNGE is queued
			}
			if opt.Flags || opt.ModSeq || seen[it.uid] {
				told = append(told, m)
			}
			if err := x.fetchOne(w, sel.box.id, it.seq, m, opt, seen[it.uid]); err != nil {
				sel.box.told(told, sel.tracker)
				return err
			}
		}
		sel.box.told(told, sel.tracker)
	}
	return nil
}

// told is called when a session has answered with the flags or MODSEQ of
// ms, read from the store and possibly newer than what the mailbox state
// has announced. The other sessions get those flags now, so that an older
// change announced later is recognised as stale and never queued; and the
// older updates already queued for this session are dropped. Otherwise a
// client would see a MODSEQ go back (RFC 7162 §3.1.1: mod-sequences only
// grow) and keep outdated flags (RFC 9051 §7.5.2: a FETCH FLAGS replaces
// them), for good if the newer change was its own.
func (b *box) told(ms []store.Message, st *imapserver.SessionTracker) {
	if len(ms) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.loadErr != nil {
		return
	}
	for _, m := range ms {
		b.flagsLocked(m.UID, m.ModSeq, m.Flags, st)
		st.DropMessageFlags(imap.UID(m.UID), m.ModSeq)
	}
}

// markSeen sets \Seen on the messages when a body section is fetched
// without .PEEK, unless the mailbox was opened with EXAMINE. It returns
// the UIDs whose flags changed: their FLAGS go into the response.
func (x *session) markSeen(sel *selected, items []item, opt *imap.FetchOptions) (map[uint32]bool, error) {
	peek := true
	for _, s := range opt.BodySection {
		peek = peek && s.Peek
	}
	for _, s := range opt.BinarySection {
		peek = peek && s.Peek
	}
	if peek || sel.readOnly {
		return nil, nil
	}
	sel.box.storing()
	updated, _, err := x.s.store.StoreFlags(x.ctx, sel.box.id, uidRanges(uidsOf(items)), store.FlagsAdd, []string{string(imap.FlagSeen)}, 0)
	sel.box.storedFlags(updated, sel.tracker)
	if err != nil {
		return nil, x.fail(err, "setting \\Seen")
	}
	seen := make(map[uint32]bool, len(updated))
	for _, u := range updated {
		seen[u.UID] = true
	}
	return seen, nil
}

// fetched is what one FETCH response carries, prepared before the
// response is started (starting it takes the connection's writer).
type fetched struct {
	structure imap.BodyStructure
	sections  [][]byte
	stream    []bool // sections[i] is streamed from the body instead
	binaries  [][]byte
	binSizes  []uint32
	envelope  *imap.Envelope
}

func (x *session) fetchOne(w *imapserver.FetchWriter, boxID int64, seq uint32, m store.Message, opt *imap.FetchOptions, flagsChanged bool) error {
	body := &lazyBody{x: x, box: boxID, uid: m.UID}
	defer body.close()
	f, err := x.prepare(body, m, opt)
	if errors.Is(err, store.ErrNoMessage) {
		return nil // expunged while we read it
	}
	if err != nil {
		return x.fail(err, "fetch")
	}
	rw := w.CreateMessage(seq)
	rw.WriteUID(imap.UID(m.UID))
	if opt.Flags || flagsChanged {
		rw.WriteFlags(imapFlags(m.Flags))
	}
	if opt.ModSeq || flagsChanged && w.CondStoreEnabled() {
		rw.WriteModSeq(m.ModSeq) // RFC 7162 §3.1.4.1; with changed flags once CONDSTORE is on (§3.2)
	}
	if opt.InternalDate {
		rw.WriteInternalDate(m.InternalDate)
	}
	if opt.RFC822Size {
		rw.WriteRFC822Size(m.Size)
	}
	if f.envelope != nil {
		rw.WriteEnvelope(f.envelope)
	}
	if f.structure != nil {
		rw.WriteBodyStructure(f.structure)
	}
	for i, s := range opt.BodySection {
		if err := x.writeSection(rw, s, f, i, body, m.Size); err != nil {
			rw.Close()
			return err
		}
	}
	for i, s := range opt.BinarySection {
		if err := writeLiteral(rw.WriteBinarySection(s, int64(len(f.binaries[i]))), f.binaries[i]); err != nil {
			rw.Close()
			return err
		}
	}
	for i, s := range opt.BinarySectionSize {
		rw.WriteBinarySectionSize(s, f.binSizes[i])
	}
	return rw.Close()
}

// prepare reads what the response needs from the message body.
func (x *session) prepare(body *lazyBody, m store.Message, opt *imap.FetchOptions) (*fetched, error) {
	f := &fetched{}
	if opt.Envelope {
		env, err := x.envelopeOf(body, m)
		if err != nil {
			return nil, err
		}
		f.envelope = env
	}
	if opt.BodyStructure != nil {
		if err := body.use(func(r io.Reader) { f.structure = imapserver.ExtractBodyStructure(r) }); err != nil {
			return nil, err
		}
	}
	for _, s := range opt.BodySection {
		var data []byte
		stream := wholeMessage(s) && sectionLen(s, m.Size) > streamAbove
		if !stream {
			if err := body.use(func(r io.Reader) { data = extractSection(r, s, m.Size) }); err != nil {
				return nil, err
			}
		}
		f.sections, f.stream = append(f.sections, data), append(f.stream, stream)
	}
	for _, s := range opt.BinarySection {
		var data []byte
		if err := body.use(func(r io.Reader) { data = imapserver.ExtractBinarySection(r, s) }); err != nil {
			return nil, err
		}
		f.binaries = append(f.binaries, data)
	}
	for _, s := range opt.BinarySectionSize {
		var n uint32
		if err := body.use(func(r io.Reader) { n = imapserver.ExtractBinarySectionSize(r, s) }); err != nil {
			return nil, err
		}
		f.binSizes = append(f.binSizes, n)
	}
	return f, nil
}

// envelopeOf converts the cached envelope; a message without one (none
// should exist) has it computed from its header.
func (x *session) envelopeOf(body *lazyBody, m store.Message) (*imap.Envelope, error) {
	if m.Envelope != nil {
		return envelope(m.Envelope, m.SentDate), nil
	}
	var env *imap.Envelope
	err := body.use(func(r io.Reader) { env = imapserver.ExtractEnvelope(readHeader(r)) })
	return env, err
}

// wholeMessage: BODY[] or BODY[]<partial>, which need no parsing.
func wholeMessage(s *imap.FetchItemBodySection) bool {
	return len(s.Part) == 0 && s.Specifier == imap.PartSpecifierNone && len(s.HeaderFields) == 0 && len(s.HeaderFieldsNot) == 0
}

// sectionLen is the length of a whole-message section of a size-byte
// message.
func sectionLen(s *imap.FetchItemBodySection, size int64) int64 {
	if s.Partial == nil {
		return size
	}
	off := min(s.Partial.Offset, size)
	return min(s.Partial.Size, size-off)
}

func extractSection(r io.Reader, s *imap.FetchItemBodySection, size int64) []byte {
	if wholeMessage(s) {
		data, _ := io.ReadAll(r) // an error is caught by lazyBody.use
		if s.Partial != nil {
			off := min(s.Partial.Offset, size, int64(len(data)))
			data = data[off : off+min(s.Partial.Size, int64(len(data))-off)]
		}
		return data
	}
	return imapserver.ExtractBodySection(r, s)
}

func (x *session) writeSection(rw *imapserver.FetchResponseWriter, s *imap.FetchItemBodySection, f *fetched, i int, body *lazyBody, size int64) error {
	if !f.stream[i] {
		return writeLiteral(rw.WriteBodySection(s, int64(len(f.sections[i]))), f.sections[i])
	}
	n := sectionLen(s, size)
	var off int64
	if s.Partial != nil {
		off = min(s.Partial.Offset, size)
	}
	b, err := body.open()
	if err == nil {
		wc := rw.WriteBodySection(s, n)
		var copied int64
		copied, err = io.Copy(wc, io.NewSectionReader(b, off, n))
		if err == nil && copied != n {
			err = fmt.Errorf("body of message %d is %d bytes short", body.uid, n-copied)
		}
		if err == nil {
			return wc.Close()
		}
	}
	// The literal is cut short: the connection cannot go on.
	x.log.Error("streaming a message body failed; closing the connection", "uid", body.uid, "err", err)
	x.conn.NetConn().Close()
	return err
}

func writeLiteral(wc io.WriteCloser, data []byte) error {
	_, err := wc.Write(data)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

// lazyBody opens a message body on first use.
type lazyBody struct {
	x    *session
	box  int64
	uid  uint32
	body *store.Body
	err  error
}

func (l *lazyBody) open() (*store.Body, error) {
	if l.body == nil && l.err == nil {
		_, l.body, l.err = l.x.s.store.Open(l.x.ctx, l.box, l.uid)
	}
	return l.body, l.err
}

// use runs fn over the whole body and returns the first read error, which
// the imapserver helpers would otherwise swallow.
func (l *lazyBody) use(fn func(io.Reader)) error {
	b, err := l.open()
	if err != nil {
		return err
	}
	tr := &errTrap{r: io.NewSectionReader(b, 0, b.Size())}
	fn(tr)
	return tr.err
}

func (l *lazyBody) close() {
	if l.body != nil {
		l.body.Close()
	}
}

// errTrap remembers the first error other than EOF.
type errTrap struct {
	r   io.Reader
	err error
}

func (t *errTrap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}
