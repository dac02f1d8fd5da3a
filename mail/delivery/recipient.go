package delivery

import (
	"context"
	"errors"
	"strings"

	"github.com/tidings/tidings/accounts"
)

// Errors of ResolveRecipient.
var (
	// ErrBadAddress: not local@domain.
	ErrBadAddress = errors.New("delivery: not a mail address")
	// ErrNoRecipient: the domain is ours, but the address names no one who
	// receives mail (unknown, an invalid local part, or disabled).
	ErrNoRecipient = errors.New("delivery: no such recipient")
)

// ResolveRecipient decides where mail for addr goes, the same way for SMTP
// and for the webmail: to a local user (local is true) when the domain is
// one of ours with mail switched on, else to the outbound queue (the
// domain is not checked: see accounts.NormalizeDomain). Other errors are
// the database's.
func ResolveRecipient(ctx context.Context, acc *accounts.Store, addr string) (u accounts.User, local bool, err error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return u, false, ErrBadAddress
	}
	if d, err := acc.Domain(ctx, addr[at+1:]); err != nil || !d.MailEnabled {
		return u, false, nil // the caller decides whether it may relay, then checks the domain
	}
	u, err = acc.Resolve(ctx, addr)
	var ne *accounts.NameError
	switch {
	case errors.Is(err, accounts.ErrNotFound) || errors.As(err, &ne) || err == nil && u.Disabled:
		return u, true, ErrNoRecipient
	case err != nil:
		return u, true, err
	}
	return u, true, nil
}
