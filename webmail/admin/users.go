package admin

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/webmail/web"
)

// usersPerPage bounds one page of the user list (each row reads the
// user's mail usage).
const usersPerPage = 100

type userRow struct {
	accounts.User
	Path     string
	Bytes    int64 // mail usage
	Messages int64
}

type usersData struct {
	Domains  []accounts.Domain
	Domain   string // the filter, canonical; "" for all
	Query    string
	Users    []userRow
	Total    int // matching users over all pages
	Page     int
	PrevURL  string
	NextURL  string
	Error    string
	Filtered bool
}

// users lists accounts, filtered by domain and a search over address and
// display name, a page at a time.
func (h *console) users(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := usersData{Query: strings.TrimSpace(q.Get("q")), Page: 1}
	d.Filtered = d.Query != "" || q.Get("domain") != ""
	var err error
	if d.Domains, err = h.a.Accounts.Domains(ctx); err != nil {
		return err
	}
	if v := q.Get("domain"); v != "" {
		if d.Domain, err = accounts.NormalizeDomain(v); err != nil {
			c.Status(http.StatusBadRequest)
			d.Error = nameProblem(err)
			return h.render(w, c, "users.html", "Users", d)
		}
	}
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 1 {
		d.Page = p
	}
	all, err := h.a.Accounts.Users(ctx, d.Domain)
	if err != nil {
		return err
	}
	needle := strings.ToLower(d.Query)
	var match []accounts.User
	for _, u := range all {
		if needle == "" || strings.Contains(u.Address, needle) || strings.Contains(strings.ToLower(u.DisplayName), needle) ||
			strings.Contains(u.Localpart+"@"+accounts.DomainUnicode(u.Domain), needle) {
			match = append(match, u)
		}
	}
	d.Total = len(match)
	from := min((d.Page-1)*usersPerPage, len(match))
	to := min(from+usersPerPage, len(match))
	for _, u := range match[from:to] {
		row := userRow{User: u, Path: userPath(u.Address)}
		if row.Bytes, row.Messages, err = h.a.Store.Usage(ctx, u.ID); err != nil {
			return err
		}
		d.Users = append(d.Users, row)
	}
	pageURL := func(p int) string {
		v := url.Values{}
		if d.Domain != "" {
			v.Set("domain", d.Domain)
		}
		if d.Query != "" {
			v.Set("q", d.Query)
		}
		v.Set("page", strconv.Itoa(p))
		return "/admin/users?" + v.Encode()
	}
	if d.Page > 1 {
		d.PrevURL = pageURL(d.Page - 1)
	}
	if to < len(match) {
		d.NextURL = pageURL(d.Page + 1)
	}
	return h.render(w, c, "users.html", "Users", d)
}

// newUserData is the "New user" form, with the values entered when it is
// shown again after an error (never the password).
type newUserData struct {
	Domains      []accounts.Domain
	DefaultQuota accounts.ByteSize
	Address      string
	Name         string
	Admin        bool
	XMPP         bool
	Generate     bool
	Quota        string
	Error        string
}

func (h *console) newUserForm(r *http.Request) (newUserData, error) {
	ds, err := h.a.Accounts.Domains(r.Context())
	return newUserData{Domains: ds, DefaultQuota: h.a.Accounts.Config().DefaultQuota, XMPP: true}, err
}

func (h *console) newUser(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	d, err := h.newUserForm(r)
	if err != nil {
		return err
	}
	return h.render(w, c, "user_new.html", "New user", d)
}

// passwordData is the page that shows a generated password, once.
type passwordData struct {
	Title    string
	User     userRow
	Password string
}

// addUser creates an account from the "New user" form.
func (h *console) addUser(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	d, err := h.newUserForm(r)
	if err != nil {
		return err
	}
	d.Address, d.Name, d.Quota = field(r, "address"), field(r, "name"), field(r, "quota")
	d.Admin, d.XMPP, d.Generate = checked(r, "admin"), checked(r, "xmpp"), checked(r, "generate")
	refuse := func(status int, msg string) error {
		d.Error = msg
		c.Status(status)
		return h.render(w, c, "user_new.html", "New user", d)
	}
	if d.Address == "" {
		return refuse(http.StatusBadRequest, "Enter the new user’s address, for example juliet@example.org.")
	}
	addr, _, domain, err := accounts.ParseAddress(d.Address)
	if err != nil {
		return refuse(http.StatusBadRequest, nameProblem(err))
	}
	nu := accounts.NewUser{Address: addr, DisplayName: d.Name, Admin: d.Admin, XMPPEnabled: &d.XMPP, Password: r.PostFormValue("password")}
	if d.Quota != "" {
		q, err := accounts.ParseByteSize(d.Quota)
		if err != nil {
			return refuse(http.StatusBadRequest, fmt.Sprintf("The quota %q is not a size: write it like 2GiB, 500MB or 0 for unlimited.", d.Quota))
		}
		nu.Quota = &q
	}
	switch {
	case d.Generate:
		nu.Password = rand.Text()
	case nu.Password == "":
		return refuse(http.StatusBadRequest, "Enter a password, or tick “Generate a password”.")
	}
	u, err := h.a.Accounts.AddUser(r.Context(), nu)
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		return refuse(http.StatusBadRequest, fmt.Sprintf("There is no domain %s here. Add it under Domains first.", accounts.DomainUnicode(domain)))
	case errors.Is(err, accounts.ErrExists):
		return refuse(http.StatusConflict, fmt.Sprintf("%s is already taken by a user or an alias.", addr))
	case nameProblem(err) != "":
		return refuse(http.StatusBadRequest, nameProblem(err))
	case err != nil:
		return err
	}
	h.a.Log.Info("admin console: user added", "admin", c.User.Address, "user", u.Address, "is_admin", u.Admin)
	if d.Generate {
		return h.render(w, c, "password.html", "User created", passwordData{Title: "User created",
			User: userRow{User: u, Path: userPath(u.Address)}, Password: nu.Password})
	}
	return c.Redirect(w, r, userPath(u.Address), fmt.Sprintf("User %s created.", u.Address))
}

// userData is the edit page of one user.
type userData struct {
	User         userRow
	Self         bool
	DefaultQuota accounts.ByteSize
	Quota        string // the form's value
	Error        string
	PasswordErr  string
}

// lookupUser loads the {address} of the path; unknown or invalid is 404.
func (h *console) lookupUser(r *http.Request) (userRow, error) {
	u, err := h.a.Accounts.User(r.Context(), r.PathValue("address"))
	if errors.Is(err, accounts.ErrNotFound) || nameProblem(err) != "" {
		return userRow{}, web.NotFound
	}
	if err != nil {
		return userRow{}, err
	}
	row := userRow{User: u, Path: userPath(u.Address)}
	row.Bytes, row.Messages, err = h.a.Store.Usage(r.Context(), u.ID)
	return row, err
}

func (h *console) userPage(u userRow, c *web.Ctx) userData {
	d := userData{User: u, Self: u.ID == c.User.ID, DefaultQuota: h.a.Accounts.Config().DefaultQuota}
	d.Quota = u.Quota.String()
	return d
}

func (h *console) user(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	u, err := h.lookupUser(r)
	if err != nil {
		return err
	}
	return h.render(w, c, "user.html", u.Address, h.userPage(u, c))
}

// updateUser saves the edit form: display name, disabled, administrator,
// XMPP and quota.
func (h *console) updateUser(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	u, err := h.lookupUser(r)
	if err != nil {
		return err
	}
	d := h.userPage(u, c)
	name, disabled, admin, xmpp := field(r, "name"), checked(r, "disabled"), checked(r, "admin"), checked(r, "xmpp")
	d.Quota = field(r, "quota")
	// Show what was entered if the form comes back with an error.
	d.User.DisplayName, d.User.Disabled, d.User.Admin, d.User.XMPPEnabled = name, disabled, admin, xmpp
	refuse := func(status int, msg string) error {
		d.Error = msg
		c.Status(status)
		return h.render(w, c, "user.html", u.Address, d)
	}
	switch {
	case d.Self && !admin:
		return refuse(http.StatusConflict, "You cannot remove your own administrator rights; another administrator can.")
	case d.Self && disabled:
		return refuse(http.StatusConflict, "You cannot disable your own account.")
	}
	quota, err := accounts.ParseByteSize(d.Quota)
	if d.Quota == "" {
		quota, err = d.DefaultQuota, nil
	}
	if err != nil {
		return refuse(http.StatusBadRequest, fmt.Sprintf("The quota %q is not a size: write it like 2GiB, 500MB or 0 for unlimited.", d.Quota))
	}
	up := accounts.UserUpdate{DisplayName: &name, Disabled: &disabled, Admin: &admin, XMPPEnabled: &xmpp, Quota: &quota}
	if _, err := h.a.Accounts.UpdateUser(r.Context(), u.Address, up); err != nil {
		return err
	}
	h.a.Log.Info("admin console: user updated", "admin", c.User.Address, "user", u.Address,
		"disabled", disabled, "is_admin", admin, "xmpp", xmpp, "quota", int64(quota))
	return c.Redirect(w, r, u.Path, fmt.Sprintf("Saved the settings of %s.", u.Address))
}

// resetPassword sets a user's password, typed or generated; it ends the
// user's sessions everywhere (the account store's change feed).
func (h *console) resetPassword(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	u, err := h.lookupUser(r)
	if err != nil {
		return err
	}
	pw, generate := r.PostFormValue("password"), checked(r, "generate")
	d := h.userPage(u, c)
	refuse := func(msg string) error {
		d.PasswordErr = msg
		c.Status(http.StatusBadRequest)
		return h.render(w, c, "user.html", u.Address, d)
	}
	switch {
	case generate:
		pw = rand.Text()
	case pw == "":
		return refuse("Enter a new password, or tick “Generate a password”.")
	}
	if err := h.a.Accounts.SetPassword(r.Context(), u.Address, pw); err != nil {
		if msg := nameProblem(err); msg != "" {
			return refuse(msg)
		}
		return err
	}
	h.a.Log.Info("admin console: password reset", "admin", c.User.Address, "user", u.Address)
	if d.Self { // keep this browser signed in; every other session ends
		if err := c.RotateSession(w, r); err != nil {
			return err
		}
	}
	if generate {
		return h.render(w, c, "password.html", "Password reset", passwordData{Title: "Password reset", User: u, Password: pw})
	}
	return c.Redirect(w, r, u.Path, fmt.Sprintf("Password of %s changed; their sessions have ended.", u.Address))
}

func (h *console) confirmDeleteUser(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	u, err := h.lookupUser(r)
	if err != nil {
		return err
	}
	return h.render(w, c, "user_delete.html", "Delete "+u.Address, h.userPage(u, c))
}

// deleteUser removes an account with its mail, contacts, filters and
// aliases; never the administrator's own.
func (h *console) deleteUser(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	u, err := h.lookupUser(r)
	if err != nil {
		return err
	}
	d := h.userPage(u, c)
	if d.Self {
		d.Error = "You cannot delete your own account."
		c.Status(http.StatusConflict)
		return h.render(w, c, "user_delete.html", "Delete "+u.Address, d)
	}
	err = h.a.Accounts.DeleteUser(r.Context(), u.Address)
	if err != nil && !errors.Is(err, accounts.ErrNotFound) {
		return err
	}
	h.a.Log.Info("admin console: user deleted", "admin", c.User.Address, "user", u.Address)
	return c.Redirect(w, r, "/admin/users", fmt.Sprintf("User %s deleted.", u.Address))
}
