// Command xmppload measures the XMPP client server (xmpp/c2s, xmpp/router)
// under load. It builds ./cmd/tidings and runs `tidings serve` as a separate
// process on a fresh SQLite data directory (users created beforehand, with
// 4096 SCRAM iterations), so that the server's memory is the server's
// alone, and drives it with a lean hand-written client: STARTTLS (or direct
// TLS with -direct), SCRAM-SHA-1, bind, initial presence, and no XML
// parser, only scanning for the few markers it waits for. It prints one
// line per measurement, in this order:
//
//   - idle: -idle sessions log in and stay idle; the server's heap and
//     goroutine stacks in use before and after, divided by the sessions.
//     The figures come from the server's /metrics right after a garbage
//     collection, which the tool provokes by sending large messages to
//     itself on a control session. It runs first, on a fresh server, and
//     also reports the rate of that 10,000-session login storm.
//   - logins: -logins clients log in, -conc at a time (TCP, STARTTLS, TLS
//     handshake, SCRAM-SHA-1, bind, initial presence until the server
//     echoes it): logins/s and latency percentiles. The sessions stay open
//     until all have logged in, like a reconnect storm, then log out.
//   - messages: -pairs pairs of sessions send each other chat messages with
//     -size body bytes for -duration, as fast as the server takes them
//     (-window messages in flight per sender): messages/s and latency, from
//     a send timestamp in the body to the arrival.
//   - paced messages: the same at -rate messages/s in all (default: half the
//     maximum just measured), latency counted from each message's scheduled
//     send time, so that a stalled server cannot hide its queue.
//
// The first fifth of each message run (at most a second) is warm-up and
// not counted. Server and tool share the machine: each line says how many
// cores the server, the tool and any other processes used. The client
// caches its SCRAM keys per account, as RFC 5802 §5.1 allows, so its 4096
// PBKDF2 rounds are not part of the timed logins (the server never runs
// PBKDF2 for SCRAM: it checks proofs against stored keys).
//
//	go run ./bench/xmppload                      # everything at the scale
//	go run ./bench/xmppload -idle 0 -pairs 0     # logins only
//	go run ./bench/xmppload -logins 0 -idle 0 -rate 10000
//
// The tool raises its open-file limit to the hard limit; a server it starts
// inherits it. With -addr it loads a running server instead: the users
// <prefix>0..<prefix>N@<domain> must exist with -password (or pass -db, the
// server's SQLite database, to create them), -admin names its admin
// listener (for the memory figure and CPU use), and the server needs
// [xmpp.c2s] max_conns_per_ip raised, bytes_per_second = 0 in
// [xmpp.c2s.pre_auth] and [xmpp.c2s.post_auth], and an open-file limit
// (ulimit -n) above the session count. The memory figure is only sound on a
// freshly started server: new sessions fill the holes that earlier ones left
// in the heap and look cheaper than they are.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidings/tidings/bench/internal/serveproc"
)

type options struct {
	addr, admin, db string // a running server
	direct          bool
	domain          string
	prefix          string
	password        string
	bin, dir        string
	race            bool // build the server with -race (the smoke test under -race)
	classic         bool // X25519 only, no post-quantum hybrid key exchange

	logins, conc int
	idle         int
	pairs        int
	duration     time.Duration
	rate         int
	size         int
	window       int
	hold         time.Duration // keep the idle sessions open after measuring
}

// results are the figures, for the smoke test.
type results struct {
	loginsPerSec           float64
	loginP50, loginP99     time.Duration
	idleSessions           int
	idleHeapPerSession     float64 // bytes of heap+stack in use
	idleRSSPerSession      float64
	msgsPerSec             float64
	msgP50, msgP99         time.Duration
	pacedRate, pacedPerSec float64
	pacedP50, pacedP99     time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "", "c2s address of a running server (default: start one)")
	flag.StringVar(&o.admin, "admin", "", "with -addr: the server's admin listener (for /metrics)")
	flag.StringVar(&o.db, "db", "", "with -addr: the server's SQLite database, to create missing users in")
	flag.BoolVar(&o.direct, "direct", false, "direct TLS (XEP-0368) instead of STARTTLS")
	flag.BoolVar(&o.classic, "classic", false, "offer only X25519 key exchange (default: Go's, X25519MLKEM768 first)")
	flag.StringVar(&o.domain, "domain", "load.example", "XMPP domain")
	flag.StringVar(&o.prefix, "prefix", "load", "localpart prefix of the users (<prefix>0, <prefix>1, ...)")
	flag.StringVar(&o.password, "password", "correct horse battery", "the users' password")
	flag.StringVar(&o.bin, "bin", "", "tidings binary (default: go build ./cmd/tidings)")
	flag.StringVar(&o.dir, "dir", "", "data directory, kept (default: a temporary one, removed); existing users are reused")
	flag.IntVar(&o.logins, "logins", 5000, "logins to time (0: skip)")
	flag.IntVar(&o.conc, "conc", 50, "concurrent logins")
	flag.IntVar(&o.idle, "idle", 10000, "idle sessions for the memory figure (0: skip)")
	flag.IntVar(&o.pairs, "pairs", 50, "pairs of sessions exchanging messages (0: skip)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each message run")
	flag.IntVar(&o.rate, "rate", 0, "messages/s of the paced run (0: half the measured maximum; -1: skip)")
	flag.IntVar(&o.size, "size", 100, "message body size in bytes")
	flag.IntVar(&o.window, "window", 16, "messages in flight per sender in the unpaced run")
	flag.DurationVar(&o.hold, "hold", 0, "keep the idle sessions open this long after measuring (to inspect the server)")
	cpuProfile := flag.String("cpuprofile", "", "write the tool's CPU profile to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if _, err := run(o, os.Stdout); err != nil {
		pprof.StopCPUProfile()
		log.Fatal(err)
	}
}

func run(o options, out io.Writer) (res results, err error) {
	ctx := context.Background()
	if o.size < 24 || o.conc < 1 || o.window < 1 || o.duration <= 0 {
		return res, errors.New("need -size ≥ 24, -conc ≥ 1, -window ≥ 1, -duration > 0")
	}
	limit := raiseFileLimit()
	users := 1 + max(o.logins, o.idle, 2*o.pairs) // user 0 is the control session's
	if need := uint64(max(o.logins, o.idle) + 100); limit < need {
		fmt.Fprintf(out, "warning: open-file limit %d is below the %d sessions need (ulimit -n; the server needs it too)\n", limit, need)
	}
	t := &target{domain: o.domain, prefix: o.prefix, password: o.password, keys: &keyCache{}, direct: o.direct, classic: o.classic}
	admin := o.admin
	if o.addr == "" {
		dir := o.dir
		if dir == "" {
			if dir, err = os.MkdirTemp("", "xmppload"); err != nil {
				return res, err
			}
			defer os.RemoveAll(dir)
		} else if err := os.MkdirAll(dir, 0o750); err != nil {
			return res, err
		}
		if dir, err = filepath.Abs(dir); err != nil {
			return res, err
		}
		bin := o.bin
		start := time.Now()
		if bin == "" {
			if bin, err = serveproc.Build(dir, o.race); err != nil {
				return res, err
			}
		}
		built := time.Since(start)
		start = time.Now()
		made, err := createUsers(ctx, filepath.Join(dir, "tidings.db"), o.domain, o.prefix, o.password, users, t.keys)
		if err != nil {
			return res, err
		}
		created := time.Since(start)
		srv, err := startServer(bin, dir, o.domain)
		if err != nil {
			return res, err
		}
		defer func() {
			if serr := srv.Stop(); serr != nil && err == nil {
				err = serr
			}
		}()
		t.addr, admin = srv.Addr["xmpp_client"], srv.Addr["admin"]
		if o.direct {
			t.addr = srv.Addr["xmpp_client_tls"]
		}
		fmt.Fprintf(out, "setup: server built in %v; %d users (%d new, 4096 PBKDF2 rounds) and their client keys in %v; "+
			"tidings serve pid %d, c2s %s, admin %s; open-file limit %d\n",
			built.Round(100*time.Millisecond), users, made, created.Round(100*time.Millisecond),
			srv.Cmd.Process.Pid, t.addr, admin, limit)
	} else {
		t.addr = o.addr
		if o.db != "" {
			if _, err := createUsers(ctx, o.db, o.domain, o.prefix, o.password, users, t.keys); err != nil {
				return res, err
			}
		}
	}
	t.sources = sourceAddrs(t.addr)

	if o.idle > 0 {
		if err := warmKeys(t, o, 1, o.idle); err != nil {
			return res, err
		}
		if err := idle(out, t, o, admin, &res); err != nil {
			return res, err
		}
	}

	if o.logins > 0 {
		if err := warmKeys(t, o, 1, o.logins); err != nil {
			return res, err
		}
		mark := cpuMark(admin)
		conns, lat, el, err := loginMany(t, 1, o.logins, o.conc, "login")
		if err != nil {
			return res, err
		}
		cpu := mark.since(admin)
		res.loginsPerSec = float64(o.logins) / el.Seconds()
		res.loginP50, res.loginP99 = pct(lat, 0.5), pct(lat, 0.99)
		fmt.Fprintf(out, "logins: %d SCRAM-SHA-1 logins (%s, bind, initial presence), %d at a time, in %v: %.0f logins/s; "+
			"latency p50 %v p99 %v max %v; %s\n", o.logins, t.mode(), o.conc, el.Round(time.Millisecond), res.loginsPerSec,
			res.loginP50, res.loginP99, pct(lat, 1), cpu.per(res.loginsPerSec, "login"))
		if err := logout(out, admin, conns); err != nil {
			return res, err
		}
	}

	if o.pairs > 0 {
		if err := warmKeys(t, o, 1, 2*o.pairs); err != nil {
			return res, err
		}
		st, err := messages(t, o, 0, admin)
		if err != nil {
			return res, err
		}
		res.msgsPerSec, res.msgP50, res.msgP99 = st.rate, pct(st.lat, 0.5), pct(st.lat, 0.99)
		fmt.Fprintf(out, "messages: %d pairs, %d-byte bodies, %d in flight per sender, %v: %d messages, %.0f messages/s; "+
			"latency p50 %v p99 %v max %v; %s\n", o.pairs, o.size, o.window, o.duration, st.count, st.rate,
			res.msgP50, res.msgP99, pct(st.lat, 1), st.cpu.per(st.rate, "message"))
		rate, offered := o.rate, "offered"
		if rate == 0 {
			rate, offered = max(1, int(st.rate/2)), "offered (half the maximum)"
		}
		if rate > 0 {
			st, err := messages(t, o, rate, admin)
			if err != nil {
				return res, err
			}
			res.pacedRate, res.pacedPerSec = float64(rate), st.rate
			res.pacedP50, res.pacedP99 = pct(st.lat, 0.5), pct(st.lat, 0.99)
			fmt.Fprintf(out, "paced messages: %d pairs, %d-byte bodies, %d messages/s %s, %v: %.0f messages/s; "+
				"latency p50 %v p99 %v max %v (from the scheduled send); %s\n", o.pairs, o.size, rate, offered, o.duration, st.rate,
				res.pacedP50, res.pacedP99, pct(st.lat, 1), st.cpu.per(st.rate, "message"))
		}
	}
	return res, nil
}

// sourceAddrs spreads connections to a loopback server over 64 source
// addresses (127.0.1.1-64), so 10,000 sessions plus the TIME_WAIT of
// earlier runs never run out of ephemeral ports.
func sourceAddrs(addr string) []net.Addr {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() || !ap.Addr().IsLoopback() {
		return nil
	}
	var out []net.Addr
	for i := 1; i <= 64; i++ {
		out = append(out, &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i))})
	}
	return out
}

// warmKeys derives the client keys of users first..first+n-1 that are not
// cached yet (with -addr and no -db) by logging each in once, untimed.
func warmKeys(t *target, o options, first, n int) error {
	t.keys.mu.Lock()
	missing := false
	for i := first; i < first+n && !missing; i++ {
		_, ok := t.keys.m[o.prefix+strconv.Itoa(i)]
		missing = !ok
	}
	t.keys.mu.Unlock()
	if !missing {
		return nil
	}
	conns, _, _, err := loginMany(t, first, n, o.conc, "warm")
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
	return err
}

// loginMany logs in users first..first+n-1, conc at a time, and returns
// the open sessions, each login's latency and the time for all.
func loginMany(t *target, first, n, conc int, resource string) ([]*xconn, []time.Duration, time.Duration, error) {
	conns := make([]*xconn, n)
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	start := time.Now()
	for range min(conc, n) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				c, err := t.login(first+i, t.user(first+i), resource)
				if err != nil {
					failed.Store(true)
					errs <- err
					return
				}
				lat[i] = time.Since(t0)
				c.buf = c.buf[:0:0] // idle sessions hold no client buffer
				c.n = 0
				conns[i] = c
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
		return nil, nil, 0, err
	}
	return conns, lat, el, nil
}

func (t *target) user(i int) string { return t.prefix + strconv.Itoa(i) }

// logout closes the sessions and waits until the server has unbound them
// all (each logout records the last-logout time in the database).
func logout(out io.Writer, admin string, conns []*xconn) error {
	before, _ := serveproc.Metrics(admin)
	start := time.Now()
	for _, c := range conns {
		c.close()
	}
	if before == nil {
		return nil
	}
	want := before["tidings_xmpp_sessions"] - float64(len(conns))
	for {
		m, err := serveproc.Metrics(admin)
		if err != nil {
			return err
		}
		if m["tidings_xmpp_sessions"] <= want {
			unbound := time.Since(start)
			settle(admin)
			fmt.Fprintf(out, "  (%d sessions logged out: unbound by the server in %v, its CPU idle again after %v)\n",
				len(conns), unbound.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
			return nil
		}
		if time.Since(start) > 120*time.Second {
			return fmt.Errorf("%v sessions still bound 120 s after logging out", m["tidings_xmpp_sessions"]-want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settle waits (up to a minute) until the server uses less than a tenth
// of a core, so that the work one measurement leaves behind (each logout
// writes the last-logout time to the database) does not count in the next.
func settle(admin string) {
	m0, err := serveproc.Metrics(admin)
	if err != nil {
		return
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		m, err := serveproc.Metrics(admin)
		if err != nil {
			return
		}
		if m["process_cpu_seconds_total"]-m0["process_cpu_seconds_total"] < 0.025 {
			return
		}
		m0 = m
	}
}

// idle measures the server's memory per idle authenticated TLS session:
// heap and goroutine stacks in use right after a collection, before and
// after the sessions log in. It runs first, on a fresh server: after
// earlier sessions have come and gone, new ones would fill the holes they
// left in partly used heap spans and look cheaper than they are. RSS is
// shown as well, read before the collections (it includes the garbage the
// logins left, up to the GC's heap goal).
func idle(out io.Writer, t *target, o options, admin string, res *results) error {
	if admin == "" {
		fmt.Fprintln(out, "idle: skipped (no admin listener to read the server's memory from; pass -admin)")
		return nil
	}
	m0, err := serveproc.Metrics(admin)
	if err != nil {
		return err
	}
	ctl, err := t.login(0, t.user(0), "control")
	if err != nil {
		return err
	}
	defer ctl.close()
	before, err := ctl.collect(admin)
	if err != nil {
		return err
	}
	mk := cpuMark(admin)
	conns, lat, el, err := loginMany(t, 1, o.idle, o.conc, "idle")
	if err != nil {
		return err
	}
	usage := mk.since(admin)
	time.Sleep(time.Second) // let the last presence echoes go out
	m1, err := serveproc.Metrics(admin)
	if err != nil {
		return err
	}
	after, err := ctl.collect(admin)
	if err != nil {
		return err
	}
	if got := after["tidings_xmpp_sessions"] - before["tidings_xmpp_sessions"]; got != float64(o.idle) {
		return fmt.Errorf("idle: the server counts %v new sessions, want %d", got, o.idle)
	}
	n := float64(o.idle)
	per := func(name string) float64 { return (after[name] - before[name]) / n }
	heap, stack := per("go_memstats_heap_inuse_bytes"), per("go_memstats_stack_inuse_bytes")
	rss := (m1["process_resident_memory_bytes"] - m0["process_resident_memory_bytes"]) / n
	res.idleSessions, res.idleHeapPerSession, res.idleRSSPerSession = o.idle, heap+stack, rss
	fmt.Fprintf(out, "idle: %d idle authenticated sessions (%s): server heap+stacks in use %+.1f MiB = %.1f KiB per session "+
		"(heap in use %.1f KiB, of which live objects %.1f; goroutine stacks %.1f KiB, %.1f goroutines); "+
		"RSS before collecting %.1f KiB per session; logged in at %.0f logins/s, latency p50 %v p99 %v, %s\n",
		o.idle, t.mode(), (heap+stack)*n/(1<<20), (heap+stack)/1024, heap/1024, per("go_memstats_heap_alloc_bytes")/1024, stack/1024,
		per("go_goroutines"), rss/1024, n/el.Seconds(), pct(lat, 0.5), pct(lat, 0.99), usage.per(n/el.Seconds(), "login"))
	time.Sleep(o.hold)
	return logout(out, admin, conns)
}

// collect makes the server collect garbage and returns its metrics right
// after. The admin listener cannot trigger a collection, so the control
// session sends itself 100 KiB messages (each leaves a few hundred KiB of
// garbage in the server) until two more collections have finished: the
// second one started after everything measured was in place, so the heap
// in use is then the live heap, plus fragmentation, plus at most one
// message's garbage.
func (c *xconn) collect(admin string) (map[string]float64, error) {
	m, err := serveproc.Metrics(admin)
	if err != nil {
		return nil, err
	}
	gc0 := m["go_gc_duration_seconds_count"]
	msg := []byte("<message to='" + c.jid + "' type='chat'><body>" + strings.Repeat("x", 100<<10) + "</body></message>")
	deadline := time.Now().Add(2 * time.Minute)
	for i := 1; ; i++ {
		if _, err := c.nc.Write(msg); err != nil {
			return nil, err
		}
		if _, err := c.expect("</message>"); err != nil {
			return nil, err
		}
		if i%4 != 0 {
			continue
		}
		if m, err = serveproc.Metrics(admin); err != nil {
			return nil, err
		}
		if m["go_gc_duration_seconds_count"] >= gc0+2 {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the server did not collect garbage within 2 minutes of nudging")
		}
	}
	c.buf = c.buf[:0:0]
	c.n = 0
	time.Sleep(200 * time.Millisecond) // the background sweeper frees the empty spans
	return serveproc.Metrics(admin)
}

// cpu is the CPU the server and the tool used over some wall time, in
// cores.
// It also has the rate of stanzas the server's router received, as a
// check on the tool's own count.
// Other processes' use (busy CPU time in /proc/stat minus the server's and
// the tool's) shows when the machine was not the benchmark's alone.
type cpu struct{ server, tool, others, stanzas float64 }

func (c cpu) String() string {
	if c.server < 0 {
		return fmt.Sprintf("tool %.2f cores, all processes %.2f", c.tool, c.others+c.tool)
	}
	return fmt.Sprintf("server %.2f cores, tool %.2f, other processes %.2f; the router counted %.0f stanzas/s in",
		c.server, c.tool, max(0, c.others), c.stanzas)
}

// per adds the server's CPU time per operation at rate operations/s.
func (c cpu) per(rate float64, unit string) string {
	if c.server < 0 || rate <= 0 {
		return c.String()
	}
	d := time.Duration(c.server / rate * float64(time.Second))
	if d < time.Millisecond {
		d = d.Round(100 * time.Nanosecond)
	} else {
		d = d.Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("%v; server CPU %v per %s", c, d, unit)
}

type mark struct {
	wall                        time.Time
	server, tool, busy, stanzas float64 // CPU seconds; stanzas in
}

func cpuMark(admin string) mark {
	m := mark{wall: time.Now(), server: -1, tool: toolCPU(), busy: machineBusy()}
	if mm, err := serveproc.Metrics(admin); err == nil {
		m.server, m.stanzas = mm["process_cpu_seconds_total"], mm[`tidings_xmpp_stanzas_total{direction="in"}`]
	}
	return m
}

func (m mark) since(admin string) cpu {
	now := cpuMark(admin)
	wall := now.wall.Sub(m.wall).Seconds()
	c := cpu{server: -1, tool: (now.tool - m.tool) / wall}
	c.others = (now.busy-m.busy)/wall - c.tool
	if m.server >= 0 && now.server >= 0 {
		c.server = (now.server - m.server) / wall
		c.others -= c.server
		c.stanzas = (now.stanzas - m.stanzas) / wall
	}
	return c
}

// machineBusy returns the CPU seconds all processes have used (the
// "cpu" line of /proc/stat without idle and iowait), or 0.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / 100 // USER_HZ
}

func toolCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// pct returns the q-quantile of lat (sorting it).
func pct(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	d := lat[min(len(lat)-1, int(float64(len(lat))*q))]
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

type msgStats struct {
	count int64 // messages received in the measured window
	rate  float64
	lat   []time.Duration
	cpu   cpu
}

// base is the origin of the timestamps in message bodies (monotonic).
var base = time.Now()

func nanos() int64 { return int64(time.Since(base)) }

// messages runs pairs of sessions that send each other chat messages for
// o.duration: as fast as the server takes them with rate 0 (o.window in
// flight per sender), else rate messages/s in all, evenly spread. The
// first fifth of the run (at most a second) is warm-up, not measured.
func messages(t *target, o options, rate int, admin string) (msgStats, error) {
	n := 2 * o.pairs
	base0 := -1.0
	if m, err := serveproc.Metrics(admin); err == nil {
		base0 = m["tidings_xmpp_sessions"]
	}
	conns, _, _, err := loginMany(t, 1, n, o.conc, "msg")
	if err != nil {
		return msgStats{}, err
	}
	for _, c := range conns {
		c.buf = make([]byte, 64<<10)
	}
	start := nanos()
	warm := start + int64(min(time.Second, o.duration/5))
	end := start + int64(o.duration)
	stop := make(chan struct{})
	var stopping atomic.Bool
	var sent, received, inWindow atomic.Int64
	sems := make([]chan struct{}, n) // sems[i]: messages in flight from i's peer to i
	if rate == 0 {
		for i := range sems {
			sems[i] = make(chan struct{}, o.window)
		}
	}
	lats := make([][]time.Duration, n)
	errs := make(chan error, 2*n)
	var rwg, swg sync.WaitGroup
	for i, c := range conns {
		rwg.Go(func() {
			l, err := c.receive(sems[i], warm, end, &received, &inWindow, &stopping)
			lats[i] = l
			if err != nil {
				errs <- err
			}
		})
	}
	for i, c := range conns {
		peer := conns[i^1].jid
		swg.Go(func() {
			if err := c.send(peer, o.size, rate, n, i, start, end, sems[i^1], stop, &sent); err != nil {
				errs <- err
			}
		})
	}
	// CPU use over the measured window only.
	time.Sleep(time.Duration(warm - nanos()))
	m := cpuMark(admin)
	time.Sleep(time.Duration(end - nanos()))
	usage := m.since(admin)
	close(stop)
	for _, c := range conns {
		c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second)) // a stalled server cannot hang the senders
	}
	swg.Wait()
	// Let the messages in flight arrive.
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < sent.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stopping.Store(true)
	lost := sent.Load() - received.Load()
	for _, c := range conns {
		c.close()
	}
	rwg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return msgStats{}, err
	}
	if lost != 0 {
		return msgStats{}, fmt.Errorf("messages: %d of %d sent never arrived", lost, sent.Load())
	}
	st := msgStats{count: inWindow.Load(), lat: slices.Concat(lats...), cpu: usage}
	st.rate = float64(st.count) / time.Duration(end-warm).Seconds()
	if st.count == 0 {
		return st, errors.New("messages: none arrived")
	}
	// Wait until the server has unbound them before the next run.
	for base0 >= 0 && time.Now().Before(deadline.Add(time.Minute)) {
		if mm, err := serveproc.Metrics(admin); err != nil || mm["tidings_xmpp_sessions"] <= base0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return st, nil
}

// send sends chat messages to peer until stop (rate 0: whenever sem has
// room) or, paced, at rate/senders messages/s from a phase of its own
// until end. The body starts with "@<timestamp>@".
func (c *xconn) send(peer string, size, rate, senders, idx int, start, end int64, sem chan struct{}, stop chan struct{}, sent *atomic.Int64) error {
	prefix := []byte("<message to='" + peer + "' type='chat'><body>@")
	const suffix = "</body></message>"
	b := make([]byte, 0, len(prefix)+size+len(suffix))
	var interval, next int64
	if rate > 0 {
		interval = int64(time.Second) * int64(senders) / int64(rate)
		next = start + interval*int64(idx)/int64(senders)
	}
	for {
		var ts int64
		if rate > 0 {
			if next >= end {
				return nil
			}
			if d := next - nanos(); d > 0 {
				time.Sleep(time.Duration(d))
			}
			ts, next = next, next+interval
		} else {
			select {
			case sem <- struct{}{}:
			case <-stop:
				return nil
			}
			ts = nanos()
		}
		b = append(b[:0], prefix...)
		b = strconv.AppendInt(b, ts, 10)
		b = append(b, '@')
		for pad := size - (len(b) - len(prefix) + 1); pad > 0; pad-- {
			b = append(b, 'x')
		}
		b = append(b, suffix...)
		sent.Add(1)
		if _, err := c.nc.Write(b); err != nil {
			return err
		}
		if rate > 0 {
			select {
			case <-stop:
				return nil
			default:
			}
		}
	}
}

// receive reads the session's stream and finds the message bodies by
// their "<body>@" marker, without parsing XML. It records the latency of
// messages sent within [warm, end) and counts those that arrive within it.
func (c *xconn) receive(sem chan struct{}, warm, end int64, received, inWindow *atomic.Int64, stopping *atomic.Bool) ([]time.Duration, error) {
	marker := []byte("<body>@")
	var lat []time.Duration
	buf := c.buf
	have := 0
	for {
		k, err := c.nc.Read(buf[have:])
		if k > 0 {
			now := nanos()
			have += k
			data := buf[:have]
			if bytes.Contains(data, []byte(`type="error"`)) || bytes.Contains(data, []byte(nsStreamErr)) {
				return lat, fmt.Errorf("%s got an error: %s", c.jid, data)
			}
			pos, keep := 0, -1
			for {
				i := bytes.Index(data[pos:], marker)
				if i < 0 {
					keep = max(pos, have-len(marker)+1)
					break
				}
				s := pos + i + len(marker)
				j := bytes.IndexByte(data[s:], '@')
				if j < 0 {
					keep = pos + i
					break
				}
				ts, ok := atoi(data[s : s+j])
				if !ok {
					return lat, fmt.Errorf("%s: bad timestamp in %q", c.jid, data[pos+i:s+j+1])
				}
				pos = s + j + 1
				received.Add(1)
				if sem != nil {
					<-sem
				}
				if now >= warm && now < end {
					inWindow.Add(1)
				}
				if ts >= warm && ts < end {
					lat = append(lat, time.Duration(now-ts))
				}
			}
			have = copy(buf, data[keep:])
			if have == len(buf) {
				buf = append(buf, make([]byte, len(buf))...)
			}
		}
		if err != nil {
			if stopping.Load() {
				return lat, nil
			}
			return lat, fmt.Errorf("%s: %w", c.jid, err)
		}
	}
}

// atoi parses a timestamp without allocating.
func atoi(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
