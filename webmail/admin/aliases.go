package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/webmail/web"
)

type aliasRow struct {
	accounts.Alias
	DeletePath string
	TargetPath string
}

// aliasGroup is one domain's aliases.
type aliasGroup struct {
	Domain  accounts.Domain
	Aliases []aliasRow
}

type aliasesData struct {
	Groups []aliasGroup
	Alias  string // the add form's values after an error
	Target string
	Error  string
}

func (h *console) aliases(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	return h.showAliases(w, r, c, aliasesData{})
}

// showAliases lists the aliases under a heading per domain.
func (h *console) showAliases(w http.ResponseWriter, r *http.Request, c *web.Ctx, d aliasesData) error {
	ds, err := h.a.Accounts.Domains(r.Context())
	if err != nil {
		return err
	}
	all, err := h.a.Accounts.Aliases(r.Context(), "")
	if err != nil {
		return err
	}
	byDomain := map[string][]aliasRow{}
	for _, al := range all {
		_, _, domain, err := accounts.ParseAddress(al.Address)
		if err != nil {
			continue // stored names are canonical
		}
		byDomain[domain] = append(byDomain[domain], aliasRow{Alias: al,
			DeletePath: "/admin/aliases/" + url.PathEscape(al.Address) + "/delete", TargetPath: userPath(al.Target)})
	}
	for _, dom := range ds {
		d.Groups = append(d.Groups, aliasGroup{Domain: dom, Aliases: byDomain[dom.Name]})
	}
	return h.render(w, c, "aliases.html", "Aliases", d)
}

// addAlias creates "Alias address" → "Delivers to".
func (h *console) addAlias(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	d := aliasesData{Alias: field(r, "alias"), Target: field(r, "target")}
	refuse := func(status int, msg string) error {
		d.Error = msg
		c.Status(status)
		return h.showAliases(w, r, c, d)
	}
	if d.Alias == "" || d.Target == "" {
		return refuse(http.StatusBadRequest, "Enter both the alias address and the user it delivers to.")
	}
	al, err := h.a.Accounts.AddAlias(r.Context(), d.Alias, d.Target)
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		_, _, domain, _ := accounts.ParseAddress(d.Alias)
		if _, derr := h.a.Accounts.Domain(r.Context(), domain); errors.Is(derr, accounts.ErrNotFound) {
			return refuse(http.StatusBadRequest, fmt.Sprintf("There is no domain %s here. Add it under Domains first.", accounts.DomainUnicode(domain)))
		}
		return refuse(http.StatusBadRequest, fmt.Sprintf("There is no user %s: an alias delivers to a user of this server.", d.Target))
	case errors.Is(err, accounts.ErrExists):
		return refuse(http.StatusConflict, fmt.Sprintf("%s is already taken by a user or an alias.", d.Alias))
	case nameProblem(err) != "":
		return refuse(http.StatusBadRequest, nameProblem(err))
	case err != nil:
		return err
	}
	h.a.Log.Info("admin console: alias added", "admin", c.User.Address, "alias", al.Address, "target", al.Target)
	return c.Redirect(w, r, "/admin/aliases", fmt.Sprintf("Alias %s added: it delivers to %s.", al.Address, al.Target))
}

func (h *console) deleteAlias(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	alias := r.PathValue("alias")
	err := h.a.Accounts.DeleteAlias(r.Context(), alias)
	switch {
	case errors.Is(err, accounts.ErrNotFound) || nameProblem(err) != "":
		return c.Redirect(w, r, "/admin/aliases", fmt.Sprintf("There is no alias %s (any more).", alias))
	case err != nil:
		return err
	}
	h.a.Log.Info("admin console: alias deleted", "admin", c.User.Address, "alias", alias)
	return c.Redirect(w, r, "/admin/aliases", fmt.Sprintf("Alias %s deleted.", alias))
}
