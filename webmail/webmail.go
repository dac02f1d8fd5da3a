// Package webmail is the browser face of Tidings: webmail, contacts, the
// filter editor, settings and the admin console, served over HTTPS by
// cmd/tidings. webmail/web is the core (sessions, CSRF, layout, assets);
// each section is a package with a Mount function:
//
//	webmail/mailui    folders, message list, message view, compose, live updates
//	webmail/contacts  address book, vCard import/export, autocomplete
//	webmail/filterui  Sieve rule editor, raw editor, out-of-office
//	webmail/settings  password, display name, notification address
//	webmail/admin     the administrators' console under /admin/
//
// Pages are server-rendered html/template with htmx (vendored, embedded)
// for progressive enhancement; everything works without JavaScript.
package webmail

import (
	"github.com/tidings/tidings/webmail/admin"
	"github.com/tidings/tidings/webmail/contacts"
	"github.com/tidings/tidings/webmail/filterui"
	"github.com/tidings/tidings/webmail/mailui"
	"github.com/tidings/tidings/webmail/settings"
	"github.com/tidings/tidings/webmail/web"
)

// New returns the webmail with every section mounted.
func New(cfg web.Config, d web.Deps) (*web.App, error) {
	a, err := web.New(cfg, d)
	if err != nil {
		return nil, err
	}
	for _, mount := range []func(*web.App) error{mailui.Mount, contacts.Mount, filterui.Mount, settings.Mount, admin.Mount} {
		if err := mount(a); err != nil {
			return nil, err
		}
	}
	return a, nil
}
