// Package tidings is the root of the Tidings module: a mail (SMTP, IMAP,
// Sieve) and XMPP server over one user base, built as one binary
// (cmd/tidings).
//
// This package holds no code; its test enforces the import rule between the
// top-level packages (see docs/architecture.md):
//
//	migrations  imports nothing of ours
//	accounts    migrations
//	filters     accounts
//	mail        accounts, filters
//	xmpp        accounts
//	webmail     accounts, filters, mail/store
//	cmd         everything
//
// mail and xmpp never import each other: new-mail notifications cross
// through an interface that filters declares, wired in cmd/tidings.
package tidings
