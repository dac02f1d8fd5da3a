package imapd

import (
	"errors"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/imapd/imapserver"
	"github.com/tidings/tidings/mail/store"
)

// specialUses are the RFC 6154 attributes a mailbox may carry.
var specialUses = map[imap.MailboxAttr]bool{
	imap.MailboxAttrAll: true, imap.MailboxAttrArchive: true, imap.MailboxAttrDrafts: true, imap.MailboxAttrFlagged: true,
	imap.MailboxAttrJunk: true, imap.MailboxAttrSent: true, imap.MailboxAttrTrash: true,
}

// Create is CREATE (RFC 9051 §6.3.4): a trailing delimiter is dropped, and
// missing parents are created too ("SHOULD create any superior
// hierarchical names").
func (x *session) Create(name string, opt *imap.CreateOptions) (err error) {
	x.enter()
	defer x.leave(&err)
	name = strings.TrimSuffix(name, store.Separator)
	special := ""
	if opt != nil && len(opt.SpecialUse) > 0 { // CREATE-SPECIAL-USE, RFC 6154 §3
		if len(opt.SpecialUse) > 1 || !specialUses[opt.SpecialUse[0]] {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: "USEATTR", Text: "Unsupported special-use attribute"}
		}
		special = string(opt.SpecialUse[0])
	}
	parts := strings.Split(name, store.Separator)
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], store.Separator)
		if _, err := x.s.store.CreateMailbox(x.ctx, x.acct.ID, parent, ""); err != nil && !errors.Is(err, store.ErrMailboxExists) {
			return x.fail(err, "create")
		}
	}
	_, err = x.s.store.CreateMailbox(x.ctx, x.acct.ID, name, special)
	return x.fail(err, "create")
}

// Delete is DELETE (RFC 9051 §6.3.5). INBOX cannot be deleted; children
// stay.
func (x *session) Delete(name string) (err error) {
	x.enter()
	defer x.leave(&err)
	return x.fail(x.s.store.DeleteMailbox(x.ctx, x.acct.ID, name), "delete")
}

// Rename is RENAME (RFC 9051 §6.3.6), children included. Renaming INBOX is
// refused by the store.
func (x *session) Rename(from, to string, _ *imap.RenameOptions) (err error) {
	x.enter()
	defer x.leave(&err)
	to = strings.TrimSuffix(to, store.Separator)
	return x.fail(x.s.store.RenameMailbox(x.ctx, x.acct.ID, from, to), "rename")
}

// Subscribe is SUBSCRIBE (RFC 9051 §6.3.7); only existing mailboxes can be.
func (x *session) Subscribe(name string) (err error) {
	x.enter()
	defer x.leave(&err)
	return x.fail(x.s.store.SetSubscribed(x.ctx, x.acct.ID, name, true), "subscribe")
}

// Unsubscribe is UNSUBSCRIBE (RFC 9051 §6.3.8).
func (x *session) Unsubscribe(name string) (err error) {
	x.enter()
	defer x.leave(&err)
	return x.fail(x.s.store.SetSubscribed(x.ctx, x.acct.ID, name, false), "unsubscribe")
}

// Status is STATUS (RFC 9051 §6.3.11, SIZE from RFC 8438).
func (x *session) Status(name string, opt *imap.StatusOptions) (_ *imap.StatusData, err error) {
	x.enter()
	defer x.leave(&err)
	return x.status(name, opt)
}

func (x *session) status(name string, opt *imap.StatusOptions) (*imap.StatusData, error) {
	if opt.DeletedStorage { // RFC 9208 QUOTA, not offered
		return nil, errUnsupported
	}
	st, err := x.s.store.Status(x.ctx, x.acct.ID, name)
	if err != nil {
		return nil, x.fail(err, "status")
	}
	n, unseen, deleted, size, limit, recent := uint32(st.Messages), uint32(st.Unseen), uint32(st.Deleted), st.Size, x.AppendLimit(), uint32(0)
	data := &imap.StatusData{Mailbox: st.Name, UIDNext: imap.UID(st.UIDNext), UIDValidity: st.UIDValidity,
		HighestModSeq: st.HighestModSeq}
	set := func(on bool, dst **uint32, v *uint32) {
		if on {
			*dst = v
		}
	}
	set(opt.NumMessages, &data.NumMessages, &n)
	set(opt.NumUnseen, &data.NumUnseen, &unseen)
	set(opt.NumDeleted, &data.NumDeleted, &deleted)
	set(opt.AppendLimit, &data.AppendLimit, &limit)
	set(opt.NumRecent, &data.NumRecent, &recent)
	if opt.Size {
		data.Size = &size
	}
	return data, nil
}

// listEntry is a mailbox name LIST may return: an existing mailbox, or
// only the parent of some.
type listEntry struct {
	name            string
	mb              *store.Mailbox // nil: not a mailbox, only a parent
	children        bool
	subscribedChild bool
}

// List is LIST and LSUB (RFC 9051 §6.3.9, RFC 5258, RFC 5819, RFC 6154).
func (x *session) List(w *imapserver.ListWriter, ref string, patterns []string, opt *imap.ListOptions) (err error) {
	x.enter()
	defer x.leave(&err)
	if len(patterns) == 0 { // LIST "" "": the delimiter and the root
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim, Mailbox: rootOf(ref)})
	}
	boxes, err := x.s.store.Mailboxes(x.ctx, x.acct.ID)
	if err != nil {
		return x.fail(err, "list")
	}
	for _, e := range listEntries(boxes) {
		data := x.listData(e, ref, patterns, opt)
		if data == nil {
			continue
		}
		if opt.ReturnStatus != nil && e.mb != nil {
			if data.Status, err = x.status(e.name, opt.ReturnStatus); err != nil {
				return err
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// listData renders one entry, or returns nil if it is not to be listed.
func (x *session) listData(e *listEntry, ref string, patterns []string, opt *imap.ListOptions) *imap.ListData {
	pattern, ok := matchList(e.name, ref, patterns)
	if !ok || e.mb == nil && !strings.HasSuffix(pattern, "%") && !opt.SelectSubscribed {
		return nil // a mere parent is listed for "%" only (RFC 9051 §6.3.9)
	}
	data := &imap.ListData{Delim: delim, Mailbox: e.name}
	subscribed := e.mb != nil && e.mb.Subscribed
	recursive := opt.SelectSubscribed && opt.SelectRecursiveMatch && e.subscribedChild
	if opt.SelectSubscribed && !subscribed && !recursive {
		return nil
	}
	if recursive {
		data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true} // RFC 5258 §3.5
	}
	if opt.SelectSpecialUse && (e.mb == nil || e.mb.SpecialUse == "") {
		return nil
	}
	if e.mb == nil {
		data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
		if opt.SelectSubscribed {
			data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent)
		}
	}
	if e.children {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
	} else {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
	}
	if subscribed && (opt.ReturnSubscribed || opt.SelectSubscribed) {
		data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
	}
	if e.mb != nil && e.mb.SpecialUse != "" {
		data.Attrs = append(data.Attrs, imap.MailboxAttr(e.mb.SpecialUse))
	}
	return data
}

// listEntries returns the mailboxes and their missing parents, INBOX
// first, then by name.
func listEntries(boxes []store.Mailbox) []*listEntry {
	byName := map[string]*listEntry{}
	for i := range boxes {
		byName[boxes[i].Name] = &listEntry{name: boxes[i].Name, mb: &boxes[i]}
	}
	for _, b := range boxes {
		for name := b.Name; strings.Contains(name, store.Separator); {
			name = name[:strings.LastIndex(name, store.Separator)]
			e := byName[name]
			if e == nil {
				e = &listEntry{name: name}
				byName[name] = e
			}
			e.children = true
			e.subscribedChild = e.subscribedChild || b.Subscribed
		}
	}
	out := make([]*listEntry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].name == "INBOX") != (out[j].name == "INBOX") {
			return out[i].name == "INBOX"
		}
		return out[i].name < out[j].name
	})
	return out
}

// matchList returns the first pattern that matches name. INBOX matches in
// any case (RFC 9051 §5.1).
func matchList(name, ref string, patterns []string) (string, bool) {
	for _, p := range patterns {
		if imapserver.MatchList(name, delim, ref, p) ||
			isInbox(name) && imapserver.MatchList(name, delim, canonInbox(ref), canonInbox(p)) {
			return p, true
		}
	}
	return "", false
}

func isInbox(name string) bool {
	return name == "INBOX" || strings.HasPrefix(name, "INBOX"+store.Separator)
}

// canonInbox writes a leading "inbox" level in upper case.
func canonInbox(s string) string {
	first, rest, found := strings.Cut(s, store.Separator)
	if !strings.EqualFold(first, "INBOX") {
		return s
	}
	if found {
		return "INBOX" + store.Separator + rest
	}
	return "INBOX"
}

// rootOf is the first hierarchy level of a reference, with its delimiter
// ("" for none), as LIST ref "" returns it.
func rootOf(ref string) string {
	if i := strings.Index(ref, store.Separator); i >= 0 {
		return ref[:i+1]
	}
	return ""
}
