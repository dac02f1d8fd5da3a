// Package settings is the webmail's settings page: change the password,
// the display name, where new-mail notifications go over XMPP, and sign
// out every other browser.
//
// Implementation notes:
//   - The password is the one account password (accounts): changing it
//     here changes it for SMTP, IMAP, XMPP and ManageSieve at once.
//     accounts.SetPassword draws a new salt and records an account event,
//     which ends the user's live protocol sessions and every other webmail
//     session (the session table remembers the salt); this browser gets a
//     fresh session (web.Ctx.RotateSession) and stays signed in.
//   - The current password is checked with accounts.Authenticate, so
//     guessing it here is throttled like a login.
//   - The notification address is filters' (Scripts.SetNotifyJID): filter
//     rules notify the user's own JID and filters sends those notices
//     there.
package settings

import (
	"embed"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/webmail/web"
)

//go:embed templates
var templateFS embed.FS

// maxDisplayName bounds a display name (characters). It goes into From
// fields of mail the user sends from the webmail.
const maxDisplayName = 128

type section struct {
	app *web.App
	ps  *web.Pages
}

// Mount registers the settings page under /settings/.
func Mount(a *web.App) error {
	ps, err := a.Templates(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	s := &section{app: a, ps: ps}
	a.Redirect("GET /settings", "/settings/")
	a.Page("GET /settings/{$}", s.show)
	a.Page("POST /settings/password", s.password)
	a.Page("POST /settings/profile", s.profile)
	a.Page("POST /settings/notify", s.notify)
	a.Page("POST /settings/sessions/end", s.endSessions)
	return nil
}

// page is the settings page: the stored values, or what was typed into
// the form that failed, with that form's error.
type page struct {
	Address       string
	XMPPOn        bool // the user may use XMPP (their switch and their domain's)
	NotifyOn      bool // notification settings are available
	DisplayName   string
	Notify        string // the notification address; "" for the own JID
	PasswordError string
	ProfileError  string
	NotifyError   string
}

// load fills the page with the stored settings.
func (s *section) load(r *http.Request, c *web.Ctx) (*page, error) {
	p := &page{Address: c.User.Address, XMPPOn: c.User.CanUse(accounts.ServiceXMPP),
		DisplayName: c.User.DisplayName, NotifyOn: s.app.Scripts != nil}
	if p.NotifyOn {
		jid, err := s.app.Scripts.NotifyJID(r.Context(), c.User.ID)
		if err != nil {
			return nil, err
		}
		p.Notify = jid
	}
	return p, nil
}

func (s *section) render(w http.ResponseWriter, c *web.Ctx, p *page, status int) error {
	c.Nav = "settings"
	if status != 0 {
		c.Status(status)
	}
	return c.Render(w, s.ps, "settings.html", "Settings", p)
}

func (s *section) show(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	p, err := s.load(r, c)
	if err != nil {
		return err
	}
	return s.render(w, c, p, 0)
}

// password changes the account password for every protocol.
func (s *section) password(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	p, err := s.load(r, c)
	if err != nil {
		return err
	}
	current, next, repeat := r.PostFormValue("current_password"), r.PostFormValue("new_password"), r.PostFormValue("repeat_password")
	refuse := func(status int, msg string) error {
		p.PasswordError = msg
		return s.render(w, c, p, status)
	}
	_, err = s.app.Accounts.Authenticate(r.Context(), accounts.Attempt{Username: c.User.Address, Password: current,
		Remote: web.Remote(r), Service: accounts.ServiceWebmail})
	var te *accounts.ThrottledError
	switch {
	case errors.As(err, &te):
		return refuse(http.StatusTooManyRequests, fmt.Sprintf("Too many wrong passwords. Try again in %s.", te.RetryAfter.Round(time.Second)))
	case errors.Is(err, accounts.ErrBadCredentials):
		return refuse(http.StatusUnprocessableEntity, "The current password is wrong.")
	case err != nil:
		return err
	case next != repeat:
		return refuse(http.StatusUnprocessableEntity, "The two new passwords differ. Type the same new password twice.")
	case next == current:
		return refuse(http.StatusUnprocessableEntity, "The new password is the same as the current one.")
	}
	var pe *accounts.PasswordError
	if err := s.app.Accounts.CheckPassword(next); errors.As(err, &pe) {
		return refuse(http.StatusUnprocessableEntity, "The new password cannot be used: it is "+pe.Reason+".")
	} else if err != nil {
		return err
	}
	if err := s.app.Accounts.SetPassword(r.Context(), c.User.Address, next); err != nil {
		if errors.As(err, &pe) {
			return refuse(http.StatusUnprocessableEntity, "The new password cannot be used: it is "+pe.Reason+".")
		}
		return err
	}
	s.app.Log.Info("webmail password changed", "user", c.User.Address, "remote", web.Remote(r))
	// The new salt ended every session, this one too: start a new one.
	if err := c.RotateSession(w, r); err != nil {
		return err
	}
	return c.Redirect(w, r, "/settings/", "Your password has been changed for mail, chat and this webmail. "+
		"You have been signed out everywhere else.")
}

// profile sets the display name.
func (s *section) profile(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	name := strings.TrimSpace(r.PostFormValue("display_name"))
	var why string
	switch {
	case strings.ContainsFunc(name, unicode.IsControl):
		why = "The display name may not contain line breaks or control characters."
	case utf8.RuneCountInString(name) > maxDisplayName:
		why = fmt.Sprintf("The display name is too long (at most %d characters).", maxDisplayName)
	case !utf8.ValidString(name):
		why = "The display name is not valid text."
	}
	if why != "" {
		p, err := s.load(r, c)
		if err != nil {
			return err
		}
		p.DisplayName, p.ProfileError = name, why
		return s.render(w, c, p, http.StatusUnprocessableEntity)
	}
	if _, err := s.app.Accounts.UpdateUser(r.Context(), c.User.Address, accounts.UserUpdate{DisplayName: &name}); err != nil {
		return err
	}
	if name == "" {
		return c.Redirect(w, r, "/settings/", "Display name removed.")
	}
	return c.Redirect(w, r, "/settings/", "Display name saved: "+name+".")
}

// notify sets where new-mail notifications go.
func (s *section) notify(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	if s.app.Scripts == nil {
		return web.Errorf(http.StatusServiceUnavailable, "Notifications are not available on this server.")
	}
	in := strings.TrimSpace(r.PostFormValue("notify_jid"))
	jid := ""
	if in != "" {
		var err error
		if jid, err = filters.NormalizeJID(in); err != nil {
			p, lerr := s.load(r, c)
			if lerr != nil {
				return lerr
			}
			p.Notify, p.NotifyError = in, "This is not a Jabber ID"
			var je *filters.JIDError
			if errors.As(err, &je) {
				p.NotifyError += ": " + je.Reason
			}
			p.NotifyError += "."
			return s.render(w, c, p, http.StatusUnprocessableEntity)
		}
		if strings.EqualFold(jid, c.User.JID()) {
			jid = "" // the default, stored as such
		}
	}
	if err := s.app.Scripts.SetNotifyJID(r.Context(), c.User.ID, jid); err != nil {
		return err
	}
	if jid == "" {
		return c.Redirect(w, r, "/settings/", "New-mail notifications go to your own Jabber ID, "+c.User.JID()+".")
	}
	return c.Redirect(w, r, "/settings/", "New-mail notifications go to "+jid+".")
}

// endSessions signs the user out of every other browser.
func (s *section) endSessions(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	n, err := c.EndOtherSessions(r.Context())
	if err != nil {
		return err
	}
	switch n {
	case 0:
		return c.Redirect(w, r, "/settings/", "There were no other webmail sessions.")
	case 1:
		return c.Redirect(w, r, "/settings/", "Signed out 1 other webmail session.")
	}
	return c.Redirect(w, r, "/settings/", fmt.Sprintf("Signed out %d other webmail sessions.", n))
}
