package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/storage"
)

// Resource-conflict policies (RFC 6120 §7.7.2.2).
const (
	ConflictRandom  = "random"   // give the new session a server-generated resource
	ConflictKickOld = "kick-old" // end the old session with a conflict stream error
	ConflictRefuse  = "refuse"   // refuse the bind with <conflict/>
)

// Config tunes the router and the server-side features.
type Config struct {
	ResourceConflict   string   `toml:"resource_conflict" doc:"What a bind to a resource already in use gets: \"random\" (a server-generated resource), \"kick-old\" (the old session ends) or \"refuse\" (the bind fails with conflict)."`
	MaxSessionsPerUser int      `toml:"max_sessions_per_user" doc:"Most simultaneous XMPP sessions (resources) of one account."`
	VersionEnabled     bool     `toml:"version_enabled" doc:"Answer XEP-0092 software version queries to the server with name and version."`
	AbuseAddresses     []string `toml:"abuse_addresses" doc:"XEP-0157 contact addresses (URIs) for abuse reports; {domain} is replaced by each domain. Empty: none published."`
	AdminAddresses     []string `toml:"admin_addresses" doc:"XEP-0157 contact addresses for the server administrators; {domain} is replaced by each domain."`
	SupportAddresses   []string `toml:"support_addresses" doc:"XEP-0157 contact addresses for user support; {domain} is replaced by each domain."`
	MaxRosterItems     int      `toml:"max_roster_items" doc:"Most contacts in one roster."`
	MaxOffline         int      `toml:"max_offline" doc:"Most messages kept for an account while it is offline; more are bounced with resource-constraint."`
	MaxBlocked         int      `toml:"max_blocked" doc:"Most entries in one XEP-0191 block list."`
}

// StorageConfig returns the limits for xmpp/storage.
func (c Config) StorageConfig() storage.Config {
	return storage.Config{MaxRosterItems: c.MaxRosterItems, MaxOffline: c.MaxOffline, MaxBlocked: c.MaxBlocked}
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		ResourceConflict:   ConflictRandom,
		MaxSessionsPerUser: 10,
		VersionEnabled:     true,
		AbuseAddresses:     []string{"mailto:abuse@{domain}"},
		AdminAddresses:     []string{"mailto:postmaster@{domain}"},
		MaxRosterItems:     storage.DefaultConfig().MaxRosterItems,
		MaxOffline:         storage.DefaultConfig().MaxOffline,
		MaxBlocked:         storage.DefaultConfig().MaxBlocked,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	switch c.ResourceConflict {
	case ConflictRandom, ConflictKickOld, ConflictRefuse:
	default:
		errs = append(errs, errors.New(`resource_conflict must be "random", "kick-old" or "refuse"`))
	}
	if c.MaxSessionsPerUser < 1 {
		errs = append(errs, errors.New("max_sessions_per_user must be at least 1"))
	}
	if c.MaxRosterItems < 1 || c.MaxOffline < 0 || c.MaxBlocked < 1 {
		errs = append(errs, errors.New("max_roster_items and max_blocked must be at least 1, max_offline at least 0"))
	}
	return errors.Join(errs...)
}

// Session is the router's view of a bound client stream. The router never
// writes to sockets: Send only queues, and a session whose queue is full
// ends itself (slow-consumer protection).
type Session interface {
	// Send queues st for writing; it never blocks.
	Send(st *elem.Element)
	// Close ends the stream with a stream error condition (RFC 6120
	// §4.9.3; "" closes without one) and a text for the client.
	Close(condition, text string)
}

// Remote carries stanzas to other servers (s2s). Nil: every remote
// destination bounces with remote-server-not-found.
type Remote interface {
	Send(ctx context.Context, from, to JID, st *elem.Element) error
}

// Router is the session registry and the stanza router of one node
// (RFC 6120 §10, RFC 6121 §8).
type Router struct {
	cfg     Config
	acc     *accounts.Store
	st      *storage.Store
	log     *slog.Logger
	started time.Time
	Remote  Remote

	domMu   sync.RWMutex
	domains map[string]bool // hosted domains with XMPP on

	mu    sync.RWMutex
	users map[string]*user // bare JID → online user

	ids atomic.Uint64

	offlineMu [64]sync.Mutex // striped by account ID: see offlineLock
	// pwChange is held by a client's own password change (XEP-0077) until
	// its result is queued; the password event waits for it.
	pwChange sync.Mutex

	stanzasIn, stanzasOut, offlineStored atomic.Int64
}

// user is an account with at least one bound session.
type user struct {
	acct    accounts.User
	jid     JID
	res     map[string]*Resource
	blocked map[string]bool // XEP-0191 list, loaded at first bind
}

// Resource is one bound session of a user. The c2s stream calls its
// methods from its reader goroutine.
type Resource struct {
	r    *Router
	u    *user
	sess Session
	JID  JID

	// guarded by Router.mu
	available   bool
	priority    int
	presence    *elem.Element // last available presence (broadcast)
	interested  bool          // asked for the roster: gets roster pushes
	blocklistRq bool          // asked for the block list: gets block pushes
	carbons     bool
	directed    map[string]bool // full JIDs sent directed available presence
	since       time.Time
	remote      string
}

// New returns a router. The domains it serves come from acc and are
// re-read on every domain change (see Router.Refresh).
func New(cfg Config, acc *accounts.Store, st *storage.Store, log *slog.Logger) *Router {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{cfg: cfg, acc: acc, st: st, log: log, started: time.Now(),
		domains: map[string]bool{}, users: map[string]*user{}}
}

// Refresh re-reads the hosted domains and their XMPP switches.
func (r *Router) Refresh(ctx context.Context) error {
	ds, err := r.acc.Domains(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]bool, len(ds))
	for _, d := range ds {
		m[d.Name] = d.XMPPEnabled // false: ours, but XMPP is off
	}
	r.domMu.Lock()
	r.domains = m
	r.domMu.Unlock()
	return nil
}

// Hosted reports whether domain is served here with XMPP on.
func (r *Router) Hosted(domain string) bool {
	r.domMu.RLock()
	defer r.domMu.RUnlock()
	return r.domains[domain]
}

// ours reports whether domain is one of ours, XMPP on or off: a domain
// with XMPP off is never looked up as a remote server.
func (r *Router) ours(domain string) bool {
	r.domMu.RLock()
	defer r.domMu.RUnlock()
	_, ok := r.domains[domain]
	return ok
}

// AccountEvent ends the sessions an account change invalidates; wire it
// to accounts.Store.Subscribe. It must not block.
func (r *Router) AccountEvent(ev accounts.Event) {
	if ev.Kind == accounts.EventDomainChanged {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := r.Refresh(ctx); err != nil {
				r.log.Warn("xmpp: reading domains", "err", err)
			}
			r.closeDomainsOff()
		}()
		return
	}
	switch ev.Kind {
	case accounts.EventPasswordChanged:
		// Waits at most for one password change in progress (registerIQ).
		r.pwChange.Lock()
		r.pwChange.Unlock() // a barrier, not a critical section
		r.closeUser(ev.Address, ev.Kind)
	case accounts.EventUserDisabled, accounts.EventUserDeleted:
		r.closeUser(ev.Address, ev.Kind)
	case accounts.EventUserChanged:
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			u, err := r.acc.User(ctx, ev.Address)
			if errors.Is(err, accounts.ErrNotFound) || (err == nil && !u.CanUse(accounts.ServiceXMPP)) {
				r.closeUser(ev.Address, ev.Kind)
			}
		}()
	}
}

func (r *Router) closeUser(bare string, why accounts.EventKind) {
	text := "the account was changed"
	switch why {
	case accounts.EventPasswordChanged:
		text = "the password was changed"
	case accounts.EventUserDisabled:
		text = "the account was disabled"
	case accounts.EventUserDeleted:
		text = "the account was deleted"
	}
	for _, s := range r.sessionsOf(bare) {
		s.Close("not-authorized", text)
	}
}

func (r *Router) closeDomainsOff() {
	r.mu.RLock()
	var victims []Session
	for _, u := range r.users {
		if !r.Hosted(u.jid.Domain) {
			for _, res := range u.res {
				victims = append(victims, res.sess)
			}
		}
	}
	r.mu.RUnlock()
	for _, s := range victims {
		s.Close("host-gone", "XMPP was switched off for this domain")
	}
}

func (r *Router) sessionsOf(bare string) []Session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	u := r.users[bare]
	if u == nil {
		return nil
	}
	out := make([]Session, 0, len(u.res))
	for _, res := range u.res {
		out = append(out, res.sess)
	}
	return out
}

// Bind errors.
var (
	ErrConflict    = errors.New("resource in use")
	ErrTooMany     = errors.New("too many sessions for this account")
	ErrBadResource = errors.New("resource not allowed")
)

// Bind registers a session of acct with the requested resource ("" asks
// the server to choose), applying the resource-conflict policy. remote is
// the client's address, for `tidings xmpp sessions`.
func (r *Router) Bind(ctx context.Context, acct accounts.User, resource string, s Session, remote string) (*Resource, error) {
	bare := JID{Local: acct.Localpart, Domain: acct.Domain}
	if resource != "" {
		j, err := ParseJID(bare.String() + "/" + resource)
		if err != nil || j.Resource == "" || len(j.Resource) > 256 {
			return nil, ErrBadResource
		}
		resource = j.Resource
	}
	var blocked map[string]bool
	r.mu.RLock()
	_, online := r.users[bare.String()]
	r.mu.RUnlock()
	if !online {
		list, err := r.st.BlockList(ctx, acct.ID)
		if err != nil {
			return nil, err
		}
		blocked = make(map[string]bool, len(list))
		for _, b := range list {
			blocked[b] = true
		}
	}

	var kick Session
	r.mu.Lock()
	u := r.users[bare.String()]
	if u == nil {
		if blocked == nil { // went offline between the two locks
			blocked = map[string]bool{}
			r.mu.Unlock()
			list, err := r.st.BlockList(ctx, acct.ID)
			if err != nil {
				return nil, err
			}
			for _, b := range list {
				blocked[b] = true
			}
			r.mu.Lock()
		}
		if u = r.users[bare.String()]; u == nil {
			u = &user{acct: acct, jid: bare, res: map[string]*Resource{}, blocked: blocked}
			r.users[bare.String()] = u
		}
	}
	if len(u.res) >= r.cfg.MaxSessionsPerUser {
		r.mu.Unlock()
		return nil, ErrTooMany
	}
	if resource == "" {
		resource = r.newResource(u)
	} else if old := u.res[resource]; old != nil {
		switch r.cfg.ResourceConflict {
		case ConflictRefuse:
			r.mu.Unlock()
			return nil, ErrConflict
		case ConflictKickOld:
			kick = old.sess
			delete(u.res, resource)
		default:
			resource = r.newResource(u)
		}
	}
	res := &Resource{r: r, u: u, sess: s, JID: JID{Local: bare.Local, Domain: bare.Domain, Resource: resource},
		since: time.Now(), remote: remote}
	u.res[resource] = res
	r.mu.Unlock()
	if kick != nil {
		kick.Close("conflict", "another session bound this resource")
	}
	return res, nil
}

func (r *Router) newResource(u *user) string {
	for {
		var b [6]byte
		rand.Read(b[:])
		res := "tidings-" + hex.EncodeToString(b[:])
		if u.res[res] == nil {
			return res
		}
	}
}

// Unbind removes the session: if it was available, unavailable presence
// goes out as if the client had sent it (RFC 6121 §4.5.2), and the last
// logout is recorded for XEP-0012.
func (res *Resource) Unbind(ctx context.Context) {
	r := res.r
	r.mu.Lock()
	cur := res.u.res[res.JID.Resource]
	if cur != res {
		r.mu.Unlock()
		return
	}
	wasAvailable := res.available
	r.mu.Unlock()
	if wasAvailable {
		res.broadcastUnavailable(ctx, elem.New("", "presence", "type", "unavailable"))
	}
	r.mu.Lock()
	if res.u.res[res.JID.Resource] == res {
		delete(res.u.res, res.JID.Resource)
		if len(res.u.res) == 0 && r.users[res.u.jid.String()] == res.u {
			delete(r.users, res.u.jid.String())
		}
	}
	r.mu.Unlock()
	if err := r.st.SetLastLogout(ctx, res.u.acct.ID, time.Now(), ""); err != nil {
		r.log.Warn("xmpp: recording last logout", "user", res.u.jid.String(), "err", err)
	}
}

// SessionInfo describes one bound session for operators.
type SessionInfo struct {
	JID       string    `json:"jid"`
	Remote    string    `json:"remote"`
	Since     time.Time `json:"since"`
	Available bool      `json:"available"`
	Priority  int       `json:"priority"`
	Show      string    `json:"show,omitempty"`
}

// Sessions lists the bound sessions, sorted by JID.
func (r *Router) Sessions() []SessionInfo {
	r.mu.RLock()
	var out []SessionInfo
	for _, u := range r.users {
		for _, res := range u.res {
			si := SessionInfo{JID: res.JID.String(), Remote: res.remote, Since: res.since,
				Available: res.available, Priority: res.priority}
			if res.presence != nil {
				si.Show = res.presence.ChildText("", "show")
			}
			out = append(out, si)
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].JID < out[j].JID })
	return out
}

// Online reports whether bare has at least one available resource with a
// non-negative priority: the resources a headline reaches.
func (r *Router) Online(bare string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if u := r.users[bare]; u != nil {
		for _, res := range u.res {
			if res.available && res.priority >= 0 {
				return true
			}
		}
	}
	return false
}

// Stats are counters for metrics.
type Stats struct {
	Users, Sessions                int
	StanzasIn, StanzasOut, Offline int64
}

// Stats returns the live counters.
func (r *Router) Stats() Stats {
	r.mu.RLock()
	s := Stats{Users: len(r.users)}
	for _, u := range r.users {
		s.Sessions += len(u.res)
	}
	r.mu.RUnlock()
	s.StanzasIn, s.StanzasOut, s.Offline = r.stanzasIn.Load(), r.stanzasOut.Load(), r.offlineStored.Load()
	return s
}

// newID returns a stanza id for server-generated requests.
func (r *Router) newID(prefix string) string {
	return prefix + "-" + itoa(r.ids.Add(1))
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}
