package mailui

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/webmail/web"
)

// send submits the message, files a copy in Sent and removes the draft.
func (u *ui) send(w http.ResponseWriter, r *http.Request, c *web.Ctx, d *composeData, rc recipients, atts []outAttachment, fail func(string) error) error {
	if u.a.Submitter == nil {
		return fail("Sending mail is not available on this server.")
	}
	ctx := r.Context()
	now, id := time.Now(), u.messageID(c)
	msg, err := u.build(c, d, rc, atts, false, id, now)
	if err != nil {
		return err
	}
	if u.a.MaxMessageSize > 0 && int64(len(msg)) > u.a.MaxMessageSize {
		return fail(fmt.Sprintf("The message is %s, more than the %s a message may be.", web.FormatBytes(int64(len(msg))),
			web.FormatBytes(u.a.MaxMessageSize)))
	}
	if err := u.a.Submitter.Submit(ctx, c.User, rc.all(), msg); err != nil {
		u.a.Log.Info("webmail send refused", "user", c.User.Address, "err", err)
		return fail("The message was not sent: " + err.Error())
	}
	flash := "Message sent."
	copyMsg := msg
	if len(rc.bcc) > 0 {
		if copyMsg, err = u.build(c, d, rc, atts, true, id, now); err != nil {
			return err
		}
	}
	if err := u.file(r, c, `\Sent`, "Sent", copyMsg, []string{`\Seen`}); err != nil {
		u.a.Log.Warn("webmail: sent copy not stored", "user", c.User.Address, "err", err)
		flash = "Message sent, but its copy could not be saved in Sent: " + storeError(err)
	}
	if d.Draft != 0 {
		u.removeDraft(r, c, d.Draft)
	}
	u.markSource(r, c, d.Reply, `\Answered`)
	u.markSource(r, c, d.Forward, `$Forwarded`)
	back := boxURL("INBOX")
	if i := strings.LastIndex(d.Reply, "/"); i > 0 {
		back = boxURL(d.Reply[:i])
	}
	return c.Redirect(w, r, back, flash)
}

// saveDraft stores the form in Drafts, replacing the draft it edits.
func (u *ui) saveDraft(w http.ResponseWriter, r *http.Request, c *web.Ctx, d *composeData, rc recipients, atts []outAttachment, fail func(string) error) error {
	msg, err := u.build(c, d, rc, atts, true, u.messageID(c), time.Now())
	if err != nil {
		return err
	}
	if u.a.MaxMessageSize > 0 && int64(len(msg)) > u.a.MaxMessageSize {
		return fail("The draft is larger than a message may be.")
	}
	drafts, err := u.specialMailbox(r.Context(), c, `\Drafts`, "Drafts")
	if err != nil {
		return err
	}
	res, err := u.a.Store.Deliver(r.Context(), bytes.NewReader(msg), store.DeliverOptions{},
		[]store.Target{{User: c.User, Mailbox: drafts.Name, Flags: []string{`\Draft`, `\Seen`}}})
	if err == nil && res[0].Err != nil {
		err = res[0].Err
	}
	if err != nil {
		return fail("The draft could not be saved: " + storeError(err))
	}
	if d.Draft != 0 {
		u.removeDraft(r, c, d.Draft)
	}
	return c.Redirect(w, r, "/mail/compose?draft="+strconv.FormatUint(uint64(res[0].UID), 10), "Draft saved.")
}

// file stores a copy of msg in the user's special-use mailbox.
func (u *ui) file(r *http.Request, c *web.Ctx, use, name string, msg []byte, flags []string) error {
	box, err := u.specialMailbox(r.Context(), c, use, name)
	if err != nil {
		return err
	}
	res, err := u.a.Store.Deliver(r.Context(), bytes.NewReader(msg), store.DeliverOptions{},
		[]store.Target{{User: c.User, Mailbox: box.Name, Flags: flags}})
	if err == nil && res[0].Err != nil {
		err = res[0].Err
	}
	return err
}

func (u *ui) removeDraft(r *http.Request, c *web.Ctx, uid uint32) {
	ctx := r.Context()
	drafts, err := u.specialMailbox(ctx, c, `\Drafts`, "Drafts")
	if err == nil {
		set := []store.UIDRange{{Start: uid, Stop: uid}}
		if _, _, err = u.a.Store.StoreFlags(ctx, drafts.ID, set, store.FlagsAdd, []string{`\Deleted`}, 0); err == nil {
			_, err = u.a.Store.Expunge(ctx, drafts.ID, set)
		}
	}
	if err != nil {
		u.a.Log.Warn("webmail: old draft not removed", "user", c.User.Address, "uid", uid, "err", err)
	}
}

// markSource flags a reply's or forward's original (best effort).
func (u *ui) markSource(r *http.Request, c *web.Ctx, ref, flag string) {
	i := strings.LastIndex(ref, "/")
	if i <= 0 {
		return
	}
	box, err := u.mailboxNamed(r.Context(), c, ref[:i])
	uid, ok := parseUID(ref[i+1:])
	if err != nil || !ok {
		return
	}
	set := []store.UIDRange{{Start: uid, Stop: uid}}
	if _, _, err := u.a.Store.StoreFlags(r.Context(), box.ID, set, store.FlagsAdd, []string{flag}, 0); err != nil {
		u.a.Log.Warn("webmail: flag not set", "user", c.User.Address, "flag", flag, "err", err)
	}
}

func storeError(err error) string {
	switch {
	case errors.Is(err, store.ErrOverQuota):
		return "your mailbox is full."
	case errors.Is(err, store.ErrTooBig):
		return "it is too big."
	}
	return "a server error (logged)."
}
