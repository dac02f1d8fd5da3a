// Package mailui is a webmail section (see package webmail).
package mailui

import "github.com/tidings/tidings/webmail/web"

// Mount registers the section's handlers.
func Mount(a *web.App) error { return nil }
