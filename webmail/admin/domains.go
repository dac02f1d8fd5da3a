package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/webmail/web"
)

// dnsCheckTimeout bounds the lookups of "Check DNS".
const dnsCheckTimeout = 20 * time.Second

type domainRow struct {
	accounts.Domain
	Path string
}

type domainsData struct {
	Domains []domainRow
	Error   string
	Name    string // the add form's value after an error
}

func (h *console) domainRows(ctx context.Context) ([]domainRow, error) {
	ds, err := h.a.Accounts.Domains(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]domainRow, len(ds))
	for i, d := range ds {
		rows[i] = domainRow{d, domainPath(d.Name)}
	}
	return rows, nil
}

func (h *console) domains(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	return h.showDomains(w, r, c, domainsData{})
}

func (h *console) showDomains(w http.ResponseWriter, r *http.Request, c *web.Ctx, d domainsData) error {
	var err error
	if d.Domains, err = h.domainRows(r.Context()); err != nil {
		return err
	}
	return h.render(w, c, "domains.html", "Domains", d)
}

func (h *console) addDomain(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	name := field(r, "domain")
	refuse := func(status int, msg string) error {
		c.Status(status)
		return h.showDomains(w, r, c, domainsData{Error: msg, Name: name})
	}
	if name == "" {
		return refuse(http.StatusBadRequest, "Enter a domain name, for example example.org.")
	}
	d, err := h.a.Accounts.AddDomain(r.Context(), name, accounts.DomainSettings{})
	switch {
	case errors.Is(err, accounts.ErrExists):
		return refuse(http.StatusConflict, fmt.Sprintf("The domain %s is already hosted here.", name))
	case nameProblem(err) != "":
		return refuse(http.StatusBadRequest, nameProblem(err))
	case err != nil:
		return err
	}
	h.a.Log.Info("admin console: domain added", "admin", c.User.Address, "domain", d.Name)
	return c.Redirect(w, r, domainPath(d.Name), fmt.Sprintf("Domain %s added. Publish its DNS records next.", d.Name))
}

// lookupDomain loads the {name} of the path; unknown or invalid is 404.
func (h *console) lookupDomain(r *http.Request) (domainRow, error) {
	d, err := h.a.Accounts.Domain(r.Context(), r.PathValue("name"))
	if errors.Is(err, accounts.ErrNotFound) || nameProblem(err) != "" {
		return domainRow{}, web.NotFound
	}
	if err != nil {
		return domainRow{}, err
	}
	return domainRow{d, domainPath(d.Name)}, nil
}

type domainData struct {
	Domain domainRow
	Own    bool // the administrator's own account is in it
	Error  string
	Force  bool
}

func (h *console) domain(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	d, err := h.lookupDomain(r)
	if err != nil {
		return err
	}
	return h.render(w, c, "domain.html", d.Unicode(), domainData{Domain: d, Own: d.Name == c.User.Domain})
}

// setDomain applies the domain page's switches ("Mail", "XMPP").
func (h *console) setDomain(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	d, err := h.lookupDomain(r)
	if err != nil {
		return err
	}
	mail, xmpp := checked(r, "mail"), checked(r, "xmpp")
	if _, err := h.a.Accounts.UpdateDomain(r.Context(), d.Name, accounts.DomainSettings{MailEnabled: &mail, XMPPEnabled: &xmpp}); err != nil {
		return err
	}
	h.a.Log.Info("admin console: domain switches", "admin", c.User.Address, "domain", d.Name, "mail", mail, "xmpp", xmpp)
	return c.Redirect(w, r, d.Path, fmt.Sprintf("%s: mail %s, XMPP %s.", d.Name, onOff(mail), onOff(xmpp)))
}

type dnsData struct {
	Domain    domainRow
	Available bool
	Checked   bool
	Records   []web.DNSRecord
	Problems  int
	Error     string
}

// domainDNS lists the records a domain should publish; with ?check=1 it
// looks them up and says which are in place.
func (h *console) domainDNS(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	d, err := h.lookupDomain(r)
	if err != nil {
		return err
	}
	data := dnsData{Domain: d, Available: h.a.DNS != nil, Checked: r.URL.Query().Get("check") != ""}
	if data.Available {
		ctx, cancel := context.WithTimeout(r.Context(), dnsCheckTimeout)
		defer cancel()
		data.Records, err = h.a.DNS.Records(ctx, d.Name, data.Checked)
		if err != nil {
			h.a.Log.Warn("admin console: DNS records failed", "domain", d.Name, "err", err)
			data.Error = "The records could not be computed or checked: " + err.Error()
			c.Status(http.StatusBadGateway)
		}
		for _, rec := range data.Records {
			if data.Checked && rec.Status != "ok" {
				data.Problems++
			}
		}
	}
	return h.render(w, c, "dns.html", "DNS records for "+d.Unicode(), data)
}

func (h *console) confirmDeleteDomain(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	d, err := h.lookupDomain(r)
	if err != nil {
		return err
	}
	return h.render(w, c, "domain_delete.html", "Delete "+d.Unicode(), domainData{Domain: d, Own: d.Name == c.User.Domain})
}

// deleteDomain removes a domain; one with users or aliases only when
// "force" (the "Delete with all its users" box) is ticked.
func (h *console) deleteDomain(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	d, err := h.lookupDomain(r)
	if err != nil {
		return err
	}
	data := domainData{Domain: d, Own: d.Name == c.User.Domain, Force: checked(r, "force")}
	refuse := func(msg string) error {
		data.Error = msg
		c.Status(http.StatusConflict)
		return h.render(w, c, "domain_delete.html", "Delete "+d.Unicode(), data)
	}
	if data.Own {
		return refuse(fmt.Sprintf("You cannot delete %s: your own account is in it.", d.Unicode()))
	}
	err = h.a.Accounts.DeleteDomain(r.Context(), d.Name, data.Force)
	switch {
	case errors.Is(err, accounts.ErrDomainInUse):
		return refuse(fmt.Sprintf("%s still has %d users and %d aliases. Tick “Delete with all its users” to delete them with it.",
			d.Unicode(), d.Users, d.Aliases))
	case errors.Is(err, accounts.ErrNotFound):
		return c.Redirect(w, r, "/admin/domains", fmt.Sprintf("Domain %s was already gone.", d.Name))
	case err != nil:
		return err
	}
	h.a.Log.Info("admin console: domain deleted", "admin", c.User.Address, "domain", d.Name, "force", data.Force)
	return c.Redirect(w, r, "/admin/domains", fmt.Sprintf("Domain %s deleted.", d.Name))
}
