package filters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters/sieve"
	"github.com/tidings/tidings/migrations"
)

// Notifier reaches users over XMPP. filters declares it; cmd/tidings
// implements it over the XMPP router (ARCHITECTURE.md: mail and xmpp never
// import each other).
type Notifier interface {
	// Online reports whether the bare JID has an available resource.
	Online(jid string) bool
	// Notify sends n to every available resource of n.To. When none is
	// available nothing is sent, nothing is queued, and the error is nil.
	Notify(ctx context.Context, n Notification) error
}

// Notification is one new-mail notice for [Notifier].
type Notification struct {
	To      string // bare JID
	From    string // the mail's sender, as a person reads it ("Tybalt" or "tybalt@capulet.example")
	Subject string // the mail's subject
	Text    string // the notice: "New mail from Tybalt: Subject", or the script's :message
	URL     string // the message in webmail (XEP-0066); may be empty
	Owner   string // the address of the user the mail is for (set by Notify)
}

// Roster lists a user's XMPP contacts (bare JIDs) for :addrbook:default.
type Roster interface {
	RosterJIDs(ctx context.Context, userID int64) ([]string, error)
}

// Envelope is what Sieve sees of the SMTP envelope.
type Envelope struct {
	From string // reverse path; "" for the null sender
	To   string // the recipient as given in RCPT TO (may carry +detail); "" means the user's address
}

// Copy is one copy of the message to store for the recipient.
type Copy struct {
	Mailbox string // "" means INBOX
	Create  bool   // create the mailbox if missing (RFC 5490 fileinto :create)
	Flags   []string
}

// Outcome is what a script decided for one recipient.
type Outcome struct {
	Copies    []Copy   // none: the message is not stored for this recipient
	Reject    string   // non-empty: refuse with this reason (RFC 5429)
	Redirects []string // addresses to forward the message to (RFC 5228 §4.2)
	Vacation  *Reply   // an automatic answer to send (RFC 5230)
	Mailto    []Reply  // enotify mailto notices (RFC 5436)
	Notifies  []Notification
}

// Keep returns the implicit keep: one copy in INBOX.
func Keep() Outcome { return Outcome{Copies: []Copy{{}}} }

// Reply is a message the filter sends on the user's behalf, with the null
// envelope sender (RFC 5230 §5.1, RFC 5436 §2.7), so it can never bounce
// back into a loop.
type Reply struct {
	To   string
	Body []byte
	// For vacation: the memory written with the delivery (RFC 5230 §4.2).
	userID int64
	handle string
	until  time.Time
}

// Filter runs users' active scripts. Its zero value is not usable: use
// [New].
type Filter struct {
	cfg      Config
	db       *migrations.DB
	scripts  *Scripts
	accounts *accounts.Store
	opts     sieve.Options
	log      *slog.Logger

	// Optional hooks, set before use.
	Notifier      Notifier
	Roster        Roster
	MailboxExists func(ctx context.Context, userID int64, name string) bool

	mu    sync.Mutex
	cache map[int64]compiled // by user ID
	rate  map[int64]*bucket  // notify rate per user

	notes chan Notification
}

type compiled struct {
	id, updated int64
	script      *sieve.Script
	err         error
}

// maxCache bounds the compiled-script cache; it is cleared when full.
const maxCache = 10000

// New returns a filter over the script store db with the limits of cfg.
func New(db *migrations.DB, acc *accounts.Store, cfg Config, log *slog.Logger) *Filter {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Filter{cfg: cfg, db: db, accounts: acc, opts: engineOptions(cfg), log: log,
		cache: map[int64]compiled{}, rate: map[int64]*bucket{}, notes: make(chan Notification, notifyBacklog)}
	f.scripts = NewScripts(db, cfg)
	f.scripts.SetCheck(compiler(cfg))
	return f
}

// Scripts returns the script store the filter runs from.
func (f *Filter) Scripts() *Scripts { return f.scripts }

// Extensions lists the Sieve capabilities scripts may require.
func (f *Filter) Extensions() []string { return sieve.Supported() }

// Evaluate runs the recipient's active script over msg. With no active
// script the outcome is the implicit keep. On error the caller keeps the
// message in INBOX (Keep) and logs: a failing script never loses mail.
func (f *Filter) Evaluate(ctx context.Context, u accounts.User, env Envelope, msg io.ReaderAt, size int64) (Outcome, error) {
	script, err := f.active(ctx, u.ID)
	if err != nil || script == nil {
		return Keep(), err
	}
	m, err := sieve.NewMessage(msg, size)
	if err != nil {
		return Keep(), fmt.Errorf("filters: reading the message: %w", err)
	}
	to := env.To
	if to == "" {
		to = u.Address
	}
	senv := &sieve.Env{From: env.From, To: to, User: u.Address, Msg: m, Now: time.Now(),
		ListContains:     f.listContains(u),
		ValidList:        validList,
		NotifyCapability: f.capability(u),
	}
	if f.MailboxExists != nil {
		senv.MailboxExists = func(ctx context.Context, name string) bool { return f.MailboxExists(ctx, u.ID, name) }
	}
	res, err := script.Run(ctx, senv)
	if err != nil {
		return Keep(), fmt.Errorf("filters: running the script of %s: %w", u.Address, err)
	}
	return f.outcome(ctx, u, senv, res)
}

// active returns the user's compiled active script, or nil.
func (f *Filter) active(ctx context.Context, userID int64) (*sieve.Script, error) {
	a, ok, err := f.scripts.active(ctx, userID)
	if err != nil || !ok {
		return nil, err
	}
	f.mu.Lock()
	c, hit := f.cache[userID]
	f.mu.Unlock()
	if !hit || c.id != a.id || c.updated != a.updated {
		c = compiled{id: a.id, updated: a.updated}
		c.script, c.err = sieve.Parse([]byte(a.source), f.opts)
		f.mu.Lock()
		if len(f.cache) >= maxCache {
			clear(f.cache)
		}
		f.cache[userID] = c
		f.mu.Unlock()
	}
	if c.err != nil {
		return nil, fmt.Errorf("filters: the active script no longer compiles: %w", c.err)
	}
	return c.script, nil
}

// outcome turns the engine's result into what delivery does.
func (f *Filter) outcome(ctx context.Context, u accounts.User, env *sieve.Env, res *sieve.Result) (Outcome, error) {
	var out Outcome
	for _, k := range res.Keep {
		mb := k.Mailbox
		if strings.EqualFold(mb, "INBOX") {
			mb = ""
		}
		out.Copies = append(out.Copies, Copy{Mailbox: mb, Create: k.Create, Flags: k.Flags})
	}
	if res.Reject != nil {
		out.Reject = res.Reject.Reason
		if out.Reject == "" {
			out.Reject = "rejected by the recipient's filter"
		}
	}
	if len(res.Redirects) > 0 && redirectedBy(env.Msg, u.Address) {
		// RFC 5228 §4.2: a loop. The copy this user would pass on came
		// through them already; keep it instead.
		f.log.Warn("redirect loop: keeping the message instead", "user", u.Address)
		if len(out.Copies) == 0 {
			out.Copies = []Copy{{}}
		}
	} else {
		for _, r := range res.Redirects {
			out.Redirects = append(out.Redirects, r.Address)
		}
	}
	if res.Vacation != nil {
		v, err := f.vacation(ctx, u, env, res.Vacation)
		if err != nil {
			return out, err
		}
		out.Vacation = v
	}
	for _, n := range res.Notifies {
		f.notification(ctx, u, env, n, &out)
	}
	return out, nil
}

// redirectedBy reports whether a Delivered-To field (which mail/delivery
// adds to every redirected copy) names addr.
func redirectedBy(m sieve.Message, addr string) bool {
	for _, v := range m.Header("Delivered-To") {
		if strings.EqualFold(strings.Trim(strings.TrimSpace(v), "<>"), addr) {
			return true
		}
	}
	return false
}

// validList reports the lists we answer (RFC 6134 §2.3).
func validList(list string) bool { return isAddrbook(list) }

// isAddrbook matches the user's default address book under any of the
// spellings scripts use.
func isAddrbook(list string) bool {
	return list == ":addrbook:default" || strings.HasSuffix(list, ":addrbook:default")
}

// listContains answers ":addrbook:default": the user's contacts (email
// addresses and Jabber IDs) plus the JIDs in their XMPP roster. The lists
// are read once per run, on first use.
func (f *Filter) listContains(u accounts.User) func(ctx context.Context, list, value string) (bool, error) {
	var book map[string]bool
	return func(ctx context.Context, list, value string) (bool, error) {
		if !isAddrbook(list) {
			return false, nil
		}
		if book == nil {
			var err error
			if book, err = f.addressBook(ctx, u); err != nil {
				return false, err
			}
		}
		return book[strings.ToLower(strings.TrimSpace(value))], nil
	}
}

func (f *Filter) addressBook(ctx context.Context, u accounts.User) (map[string]bool, error) {
	book := map[string]bool{}
	cs, err := f.accounts.Contacts(ctx, u.Address)
	if err != nil && !errors.Is(err, accounts.ErrNotFound) {
		return nil, fmt.Errorf("filters: contacts: %w", err)
	}
	for _, c := range cs {
		for _, a := range []string{c.Email, c.JID} {
			if a != "" {
				book[strings.ToLower(a)] = true
			}
		}
	}
	if f.Roster != nil {
		jids, err := f.Roster.RosterJIDs(ctx, u.ID)
		if err != nil {
			return nil, fmt.Errorf("filters: roster: %w", err)
		}
		for _, j := range jids {
			book[strings.ToLower(j)] = true
		}
	}
	return book, nil
}
