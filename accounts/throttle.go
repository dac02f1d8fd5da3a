package accounts

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tidings/tidings/internal/connlimit"
)

// ThrottledError is returned while a client address or an account is in a
// failed-login penalty. Protocols answer with their "try again later" reply
// (SMTP 454 4.7.0, IMAP NO [UNAVAILABLE], SASL temporary-auth-failure).
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins; try again in %s", e.RetryAfter.Round(time.Second))
}

// Throttle is the failed-login throttle every protocol shares. It keys
// penalties by client address (IPv6 by /64, as one host usually holds a
// whole /64) and by account, so that neither one address guessing many
// passwords nor many addresses guessing one account get far. The state is in
// memory, per node.
type Throttle struct {
	cfg ThrottleConfig
	log *slog.Logger
	m   *metrics
	now func() time.Time

	mu       sync.Mutex
	ips      map[string]*penalty
	accounts map[string]*penalty
}

type penalty struct {
	failures int
	last     time.Time
	until    time.Time
}

// NewThrottle returns a throttle; log and m may be nil.
func NewThrottle(cfg ThrottleConfig, log *slog.Logger, m *metrics) *Throttle {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = newMetrics(nil)
	}
	return &Throttle{cfg: cfg, log: log, m: m, now: time.Now,
		ips: map[string]*penalty{}, accounts: map[string]*penalty{}}
}

// RemoteIP extracts the client address of a connection for the throttle.
func RemoteIP(a net.Addr) netip.Addr { return connlimit.RemoteIP(a) }

func ipKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// Check returns a *ThrottledError if remote or account is in a penalty.
// Call it before verifying a password; an invalid remote is not keyed.
func (t *Throttle) Check(remote netip.Addr, account string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	wait := max(t.remaining(t.ips, ipKey(remote), now), t.remaining(t.accounts, account, now))
	if wait > 0 {
		t.m.throttled.Inc()
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

func (t *Throttle) remaining(m map[string]*penalty, key string, now time.Time) time.Duration {
	p := m[key]
	if key == "" || p == nil {
		return 0
	}
	if now.Sub(p.last) > t.cfg.Window {
		delete(m, key)
		return 0
	}
	return max(p.until.Sub(now), 0)
}

// Failure records a failed login and logs it.
func (t *Throttle) Failure(remote netip.Addr, account string, svc Service) {
	t.mu.Lock()
	now := t.now()
	ipFails, ipDelay := t.fail(t.ips, ipKey(remote), now, t.cfg.IPFree, t.cfg.MaxDelay)
	acFails, acDelay := t.fail(t.accounts, account, now, t.cfg.AccountFree, t.cfg.AccountMax)
	t.mu.Unlock()
	t.m.failures.WithLabelValues(string(svc)).Inc()
	attrs := []any{"service", svc, "remote", remote, "account", account,
		"remote_failures", ipFails, "account_failures", acFails}
	if d := max(ipDelay, acDelay); d > 0 {
		t.log.Warn("login failed; throttling", append(attrs, "delay", d)...)
		return
	}
	t.log.Info("login failed", attrs...)
}

func (t *Throttle) fail(m map[string]*penalty, key string, now time.Time, free int, maxDelay time.Duration) (int, time.Duration) {
	if key == "" {
		return 0, 0
	}
	p := m[key]
	if p == nil || now.Sub(p.last) > t.cfg.Window {
		t.makeRoom(m, now)
		p = &penalty{}
		m[key] = p
	}
	p.failures++
	p.last = now
	d := backoff(p.failures-free, t.cfg.BaseDelay, maxDelay)
	p.until = now.Add(d)
	return p.failures, d
}

// backoff is 0 for n <= 0, then base, 2·base, 4·base... capped at limit.
func backoff(n int, base, limit time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// makeRoom keeps a map under MaxTrackedKey: first drop expired entries,
// then any.
func (t *Throttle) makeRoom(m map[string]*penalty, now time.Time) {
	if len(m) < t.cfg.MaxTrackedKey {
		return
	}
	for k, p := range m {
		if now.Sub(p.last) > t.cfg.Window {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < t.cfg.MaxTrackedKey {
			return
		}
		delete(m, k)
	}
}

// Success clears the account's penalty. The address's failures stay until
// they age out, so one valid login cannot launder guesses at other accounts.
func (t *Throttle) Success(account string) {
	t.mu.Lock()
	delete(t.accounts, account)
	t.mu.Unlock()
}
