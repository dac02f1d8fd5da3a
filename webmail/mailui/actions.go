package mailui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/webmail/web"
)

// actions applies one action to the messages checked in a list or shown
// in a view: form fields uid (one or many), action, to (for move) and
// back (where to return, a /mail/ URL).
func (u *ui) actions(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return web.Errorf(http.StatusBadRequest, "The form could not be read.")
	}
	box, err := u.mailbox(r, c)
	if err != nil {
		return err
	}
	back := r.PostForm.Get("back")
	if !strings.HasPrefix(back, "/mail/") || strings.ContainsAny(back, "\r\n\\") {
		back = boxURL(box.Name)
	}
	var set []store.UIDRange
	for _, s := range r.PostForm["uid"] {
		uid, ok := parseUID(s)
		if !ok {
			return web.Errorf(http.StatusBadRequest, "Invalid message number.")
		}
		set = append(set, store.UIDRange{Start: uid, Stop: uid})
	}
	if len(set) == 0 {
		return c.Redirect(w, r, back, "Select at least one message first.")
	}
	n := countText(len(set), "message")
	ctx := r.Context()
	flag := func(op store.FlagOp, f, done string) error {
		if _, _, err := u.a.Store.StoreFlags(ctx, box.ID, set, op, []string{f}, 0); err != nil {
			return err
		}
		return c.Redirect(w, r, back, done)
	}
	switch action := r.PostForm.Get("action"); action {
	case "read":
		return flag(store.FlagsAdd, `\Seen`, "Marked "+n+" as read.")
	case "unread":
		return flag(store.FlagsRemove, `\Seen`, "Marked "+n+" as unread.")
	case "flag":
		return flag(store.FlagsAdd, `\Flagged`, "Flagged "+n+".")
	case "unflag":
		return flag(store.FlagsRemove, `\Flagged`, "Removed the flag from "+n+".")
	case "delete":
		return u.delete(w, r, c, box, set, back, n)
	case "move":
		to, err := u.mailboxNamed(ctx, c, r.PostForm.Get("to"))
		if errors.Is(err, web.NotFound) || r.PostForm.Get("to") == "" {
			return c.Redirect(w, r, back, "Choose a folder to move to.")
		}
		if err != nil {
			return err
		}
		if to.ID == box.ID {
			return c.Redirect(w, r, back, "The messages are already in "+boxTitle(to.Name)+".")
		}
		if _, err := u.a.Store.Move(ctx, c.User, box.ID, set, to.ID); err != nil {
			return moveError(err)
		}
		return c.Redirect(w, r, afterRemove(back, box), "Moved "+n+" to "+boxTitle(to.Name)+".")
	default:
		return web.Errorf(http.StatusBadRequest, "Unknown action %q.", action)
	}
}

// delete moves messages to Trash; in Trash it removes them for good.
func (u *ui) delete(w http.ResponseWriter, r *http.Request, c *web.Ctx, box store.Mailbox, set []store.UIDRange, back, n string) error {
	ctx := r.Context()
	if box.SpecialUse != `\Trash` {
		trash, err := u.specialMailbox(ctx, c, `\Trash`, "Trash")
		if err != nil {
			return err
		}
		if trash.ID != box.ID {
			if _, err := u.a.Store.Move(ctx, c.User, box.ID, set, trash.ID); err != nil {
				return moveError(err)
			}
			return c.Redirect(w, r, afterRemove(back, box), "Moved "+n+" to "+boxTitle(trash.Name)+".")
		}
	}
	if _, _, err := u.a.Store.StoreFlags(ctx, box.ID, set, store.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		return err
	}
	if _, err := u.a.Store.Expunge(ctx, box.ID, set); err != nil {
		return err
	}
	return c.Redirect(w, r, afterRemove(back, box), "Deleted "+n+" for good.")
}

// afterRemove leaves a message's page that no longer exists for its list.
func afterRemove(back string, box store.Mailbox) string {
	if strings.HasPrefix(back, boxURL(box.Name)) && !strings.HasPrefix(back, boxURL(box.Name)+"?") && back != boxURL(box.Name) {
		return boxURL(box.Name)
	}
	return back
}

func moveError(err error) error {
	if errors.Is(err, store.ErrOverQuota) {
		return web.Errorf(http.StatusInsufficientStorage, "Your mailbox is full: delete some mail first.")
	}
	return err
}
