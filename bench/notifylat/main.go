// Command notifylat measures the Sieve issue's latency target: from the end
// of SMTP DATA to the XMPP headline arriving at an online client, p99 under
// 50 ms. It builds ./cmd/tidings and runs `tidings serve` as a separate
// process on a fresh SQLite data directory (WAL, synchronous=FULL: each
// mail is on disk before its 250), with the MX listener (port 25's), the
// XMPP client listener and the admin listener on loopback, and its own DNS
// server as resolver (the MX checks SPF and DMARC of every mail; the
// sender's records pass). Before the server starts it creates
// juliet@capulet.example, her contact Tybalt <tybalt@montague.example> and
// her active script
//
//	require ["enotify","extlists"];
//	if address :list "from" ":addrbook:default" { notify "xmpp:juliet@capulet.example"; }
//
// Then juliet logs in over XMPP (mellium.im/xmpp: STARTTLS, SCRAM, bind,
// initial presence), and the tool sends -n mails from Tybalt to juliet over
// one plain SMTP connection (RSET between mails), back to back or paced at
// -rate mails/s. Each mail is timed from just before the tool writes the
// final "\r\n.\r\n" to the moment juliet's client has decoded the start tag
// of its headline. The tool prints the count, p50, p90, p99 and max of
// that latency, the end of DATA to 250 for comparison, the delivery rate,
// and the CPU the server and the whole machine used.
//
// The default notify_rate (30 notifications per user per hour) would drop
// all but the first 30 headlines: the server runs with
// TIDINGS_FILTERS_NOTIFY_RATE raised, and the output says so. The first
// -warmup mails (which compile the script and warm the caches) are sent
// and awaited but not counted.
//
//	go run ./bench/notifylat                 # 500 mails back to back
//	go run ./bench/notifylat -n 1000 -rate 50
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidings/tidings/bench/internal/serveproc"
)

type options struct {
	n, rate, size, warmup int
	bin, dir              string
	race                  bool // build the server with -race (the smoke test under -race)
}

// results are the figures, for the smoke test.
type results struct {
	sent, arrived      int
	p50, p90, p99, max time.Duration
	perSec             float64
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 500, "mails to time")
	flag.IntVar(&o.rate, "rate", 0, "mails/s to send at (0: back to back, each after the previous one's 250)")
	flag.IntVar(&o.size, "size", 4096, "mail size in bytes")
	flag.IntVar(&o.warmup, "warmup", 10, "mails sent first and not counted")
	flag.StringVar(&o.bin, "bin", "", "tidings binary (default: go build ./cmd/tidings)")
	flag.StringVar(&o.dir, "dir", "", "data directory, must not exist yet (default: a temporary one, removed)")
	flag.Parse()
	if _, err := run(o, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// notifyRate is the notify_rate the server runs with: enough for every
// mail the tool sends.
func (o options) notifyRate() int { return max(1_000_000, 2*(o.n+o.warmup)) }

func run(o options, out io.Writer) (res results, err error) {
	if o.n < 1 || o.rate < 0 || o.size < 512 || o.warmup < 0 {
		return res, errors.New("need -n ≥ 1, -rate ≥ 0, -size ≥ 512, -warmup ≥ 0")
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "notifylat"); err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.Mkdir(dir, 0o750); err != nil {
		return res, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return res, err
	}
	start := time.Now()
	bin := o.bin
	if bin == "" {
		if bin, err = serveproc.Build(dir, o.race); err != nil {
			return res, err
		}
	}
	built := time.Since(start)
	if err := setup(context.Background(), filepath.Join(dir, "tidings.db")); err != nil {
		return res, fmt.Errorf("setup: %w", err)
	}
	ns, err := startDNS()
	if err != nil {
		return res, err
	}
	defer ns.Close()
	rate := "TIDINGS_FILTERS_NOTIFY_RATE=" + strconv.Itoa(o.notifyRate())
	srv, err := startServer(bin, dir, ns.Addr, rate)
	if err != nil {
		return res, err
	}
	defer func() {
		if serr := srv.Stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	fmt.Fprintf(out, "setup: server built in %v; tidings serve pid %d (smtp %s, c2s %s, admin %s) with %s "+
		"(filters.notify_rate, default 30 per user per hour, would drop all but 30 headlines)\n",
		built.Round(100*time.Millisecond), srv.Cmd.Process.Pid, srv.Addr["smtp"], srv.Addr["xmpp_client"], srv.Addr["admin"], rate)
	l, err := login(srv.Addr["xmpp_client"])
	if err != nil {
		return res, err
	}
	defer l.close()
	m, err := dialMTA(srv.Addr["smtp"])
	if err != nil {
		return res, err
	}
	defer m.close()
	if res, err = measure(out, o, srv, l, m); err != nil {
		return res, err
	}
	if bad := troubles(srv); len(bad) > 0 {
		return res, fmt.Errorf("the server logged warnings or errors:\n%s", strings.Join(bad, "\n"))
	}
	return res, nil
}

// timing is one mail's clock readings.
type timing struct{ end, accepted time.Time }

func measure(out io.Writer, o options, srv *serveproc.Proc, l *listener, m *mta) (res results, err error) {
	for i := range o.warmup {
		if _, _, err := m.send(message(i, o.size)); err != nil {
			return res, fmt.Errorf("warm-up mail %d: %w", i, err)
		}
	}
	if err := l.await(0, o.warmup, 5*time.Second); err != nil {
		return res, err
	}
	cpu0, _ := cpuSeconds(srv.Addr["admin"])
	mach0 := machineBusy()
	t := make([]timing, o.n)
	start := time.Now()
	for i := range o.n {
		if o.rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(o.rate))))
		}
		end, accepted, err := m.send(message(o.warmup+i, o.size))
		if err != nil {
			return res, fmt.Errorf("mail %d: %w", o.warmup+i, err)
		}
		t[i] = timing{end, accepted}
	}
	elapsed := time.Since(start)
	if err := l.await(o.warmup, o.n, 5*time.Second); err != nil {
		return res, err
	}
	cpu1, _ := cpuSeconds(srv.Addr["admin"])
	mach, window := machineBusy()-mach0, time.Since(start)
	var lat, smtp []time.Duration
	for i, ti := range t {
		smtp = append(smtp, ti.accepted.Sub(ti.end))
		if at, ok := l.at(o.warmup + i); ok {
			lat = append(lat, at.Sub(ti.end))
		}
	}
	res = results{sent: o.n, arrived: len(lat), perSec: float64(o.n) / elapsed.Seconds()}
	pace := "back to back"
	if o.rate > 0 {
		pace = fmt.Sprintf("paced at %d/s", o.rate)
	}
	fmt.Fprintf(out, "sent: %d mails of %d bytes over one SMTP connection (RSET between), %s, in %v: %.0f mails/s delivered; "+
		"end of DATA to 250: p50 %v p99 %v\n", o.n, o.size, pace, elapsed.Round(time.Millisecond), res.perSec,
		pct(smtp, 0.5), pct(smtp, 0.99))
	if len(lat) > 0 {
		res.p50, res.p90, res.p99, res.max = pct(lat, 0.5), pct(lat, 0.9), pct(lat, 0.99), pct(lat, 1)
	}
	fmt.Fprintf(out, "headlines: %d of %d arrived; end of DATA to headline: p50 %v p90 %v p99 %v max %v (target: p99 < 50ms)\n",
		res.arrived, res.sent, res.p50, res.p90, res.p99, res.max)
	fmt.Fprintf(out, "cpu: server %.2f ms per mail; the machine's %d cores %.1f busy on average (server, tool and anything else)\n",
		(cpu1-cpu0)*1000/float64(o.n), runtime.NumCPU(), mach/window.Seconds())
	if n := l.stray(); n > 0 {
		return res, fmt.Errorf("%d headlines for no mail of this run, or twice for one", n)
	}
	if res.arrived < res.sent {
		return res, fmt.Errorf("%d headlines missing 5 s after the last mail", res.sent-res.arrived)
	}
	return res, nil
}

// pct returns the q-quantile of lat (sorting it).
func pct(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, int(float64(len(lat))*q))].Round(10 * time.Microsecond)
}

// machineBusy returns the CPU seconds all cores have spent not idle since
// boot (/proc/stat; 0 elsewhere).
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, v := range f[1:min(len(f), 9)] { // user..steal; guest time is inside user
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / 100 // USER_HZ
}
