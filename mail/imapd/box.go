package imapd

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/imapd/imapserver"
	"github.com/tidings/tidings/mail/store"
)

// box is the state of one mailbox that sessions have selected: the
// server's view of its messages, in UID order (sequence number i+1 is
// msgs[i]), and the tracker that queues each session's updates. msgs and
// the tracker's message count change together, under mu.
type box struct {
	id   int64
	refs int // sessions that selected it; guarded by userState.mu

	mu       sync.Mutex
	loadErr  error
	tracker  *imapserver.MailboxTracker
	msgs     []msgState
	keywords map[string]bool // keywords seen in the mailbox, for FLAGS
	ahead    map[uint32]bool // expunged before their addition was seen
	gone     bool            // the mailbox was deleted
	// inflight counts sessions' own flag changes between the store call
	// and storedFlags. The feed waits for them (settled) before applying a
	// flag change, so that the bus's copy of a session's own STORE never
	// reaches that session as an extra FETCH.
	inflight int
	settled  *sync.Cond
}

// msgState is a message as the sessions know it. modseq tells whether a
// flag change was already queued.
type msgState struct {
	uid    uint32
	modseq uint64
}

// systemFlags are the flags of RFC 9051 §2.3.2 a message can hold.
var systemFlags = []imap.Flag{imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft, imap.FlagFlagged, imap.FlagSeen}

func (b *box) loadLocked(ctx context.Context, st *store.Store) error {
	ms, keywords, err := st.LoadIndex(ctx, b.id)
	if err != nil {
		return err
	}
	b.msgs = make([]msgState, len(ms))
	for i, m := range ms {
		b.msgs[i] = msgState{m.UID, m.ModSeq}
	}
	b.keywords = map[string]bool{}
	b.ahead = map[uint32]bool{}
	b.noteKeywords(keywords)
	b.tracker = imapserver.NewMailboxTracker(uint32(len(b.msgs)))
	return nil
}

// indexOf finds a UID; the caller holds mu.
func (b *box) indexOf(uid uint32) (int, bool) {
	i := sort.Search(len(b.msgs), func(i int) bool { return b.msgs[i].uid >= uid })
	return i, i < len(b.msgs) && b.msgs[i].uid == uid
}

// lastUID is the highest known UID, 0 for none; the caller holds mu.
func (b *box) lastUID() uint32 {
	if len(b.msgs) == 0 {
		return 0
	}
	return b.msgs[len(b.msgs)-1].uid
}

// mailboxFlags is the FLAGS list: system flags and the keywords in use.
func (b *box) mailboxFlags() []imap.Flag {
	flags := slices.Clone(systemFlags)
	kws := make([]string, 0, len(b.keywords))
	for k := range b.keywords {
		kws = append(kws, k)
	}
	sort.Strings(kws)
	for _, k := range kws {
		flags = append(flags, imap.Flag(k))
	}
	return flags
}

// noteKeywords records keywords, reporting whether any is new.
func (b *box) noteKeywords(flags []string) bool {
	added := false
	for _, f := range flags {
		if !strings.HasPrefix(f, `\`) && !b.keywords[f] {
			b.keywords[f] = true
			added = true
		}
	}
	return added
}

// refreshAdded reads the messages above the last known UID and announces
// them. UIDs are assigned in commit order, so whatever is committed above
// the last known UID is complete up to its highest UID.
func (b *box) refreshAdded(ctx context.Context, st *store.Store) error {
	b.mu.Lock()
	last, failed := b.lastUID(), b.loadErr != nil
	b.mu.Unlock()
	if failed {
		return nil
	}
	ms, err := st.Index(ctx, b.id, last+1)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addLocked(ms)
	return nil
}

func (b *box) addLocked(ms []store.Indexed) {
	newKeywords := false
	for _, m := range ms {
		if m.UID <= b.lastUID() {
			continue
		}
		if b.ahead[m.UID] {
			delete(b.ahead, m.UID)
			continue
		}
		newKeywords = b.noteKeywords(m.Flags) || newKeywords
		b.msgs = append(b.msgs, msgState{m.UID, m.ModSeq})
		// One EXISTS per message: SessionTracker.EncodeSeqNum only
		// recognises a pending EXISTS one above the previous count.
		b.tracker.QueueNumMessages(uint32(len(b.msgs)))
	}
	if newKeywords {
		b.tracker.QueueMailboxFlags(b.mailboxFlags())
	}
}

// expunged announces the removal of uids. UIDs above the last known one
// were added and removed before the addition reached us; they are
// remembered so that it is ignored.
func (b *box) expunged(uids []uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.loadErr != nil {
		return
	}
	desc := slices.Clone(uids)
	slices.Sort(desc)
	slices.Reverse(desc)
	for _, uid := range desc {
		i, ok := b.indexOf(uid)
		if ok {
			b.msgs = slices.Delete(b.msgs, i, i+1)
			b.tracker.QueueExpungeUID(uint32(i+1), imap.UID(uid))
		} else if uid > b.lastUID() {
			b.ahead[uid] = true
		}
	}
}

// refreshFlags reads the current flags of uids and queues those that
// changed since they were last announced.
func (b *box) refreshFlags(ctx context.Context, st *store.Store, uids []uint32) error {
	if len(uids) == 0 {
		return nil // an empty set means "all" to the store
	}
	ms, err := st.List(ctx, b.id, uidRanges(uids), false)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.inflight > 0 {
		b.settled.Wait()
	}
	if b.loadErr != nil {
		return nil
	}
	for _, m := range ms {
		b.flagsLocked(m.UID, m.ModSeq, m.Flags, nil)
	}
	return nil
}

// flagsLocked queues a FETCH FLAGS for every session but source (nil: all),
// unless this MODSEQ was announced already.
func (b *box) flagsLocked(uid uint32, modseq uint64, flags []string, source *imapserver.SessionTracker) {
	i, ok := b.indexOf(uid)
	if !ok || modseq <= b.msgs[i].modseq {
		return
	}
	b.msgs[i].modseq = modseq
	if b.noteKeywords(flags) {
		b.tracker.QueueMailboxFlags(b.mailboxFlags())
	}
	b.tracker.QueueMessageFlagsModSeq(uint32(i+1), imap.UID(uid), imapFlags(flags), modseq, source)
}

// storing announces a session's own flag change; end it with
// storedFlags, also when the store call fails.
func (b *box) storing() {
	b.mu.Lock()
	b.inflight++
	b.mu.Unlock()
}

// storedFlags applies a session's own STORE: the others get FETCH FLAGS,
// the session answers itself.
func (b *box) storedFlags(updates []store.FlagUpdate, source *imapserver.SessionTracker) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range updates {
		b.flagsLocked(u.UID, u.ModSeq, u.Flags, source)
	}
	if b.inflight--; b.inflight == 0 {
		b.settled.Broadcast()
	}
}

// resync compares the whole mailbox with the store.
func (b *box) resync(ctx context.Context, st *store.Store) error {
	ms, err := st.Index(ctx, b.id, 1)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.loadErr != nil {
		return nil
	}
	present := make(map[uint32]bool, len(ms))
	for _, m := range ms {
		present[m.UID] = true
	}
	for i := len(b.msgs) - 1; i >= 0; i-- {
		if uid := b.msgs[i].uid; !present[uid] {
			b.msgs = slices.Delete(b.msgs, i, i+1)
			b.tracker.QueueExpungeUID(uint32(i+1), imap.UID(uid))
		}
	}
	for _, m := range ms {
		b.flagsLocked(m.UID, m.ModSeq, m.Flags, nil)
	}
	clear(b.ahead)
	b.addLocked(ms)
	return nil
}

func (b *box) markGone() {
	b.mu.Lock()
	b.gone = true
	b.mu.Unlock()
}

// uidRanges turns UIDs into the store's ranges, merging runs. An empty
// result means "every message" to the store: callers check for no UIDs.
func uidRanges(uids []uint32) []store.UIDRange {
	sorted := slices.Clone(uids)
	slices.Sort(sorted)
	var out []store.UIDRange
	for _, u := range sorted {
		if n := len(out); n > 0 && (out[n-1].Stop == u || out[n-1].Stop+1 == u) {
			out[n-1].Stop = u
			continue
		}
		out = append(out, store.UIDRange{Start: u, Stop: u})
	}
	return out
}

func imapFlags(flags []string) []imap.Flag {
	out := make([]imap.Flag, len(flags))
	for i, f := range flags {
		out[i] = imap.Flag(f)
	}
	return out
}

// storeFlags converts a client's flags; \Recent is the server's to set
// (RFC 3501 §2.3.2) and is dropped.
func storeFlags(flags []imap.Flag) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if !strings.EqualFold(string(f), `\Recent`) {
			out = append(out, string(f))
		}
	}
	return out
}
