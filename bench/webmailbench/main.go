// Command webmailbench measures the webmail issue's rendering targets: the
// message list of a 10,000-message folder in < 100 ms and a message view in
// < 50 ms, server-side. It builds a fresh SQLite database in a temporary
// directory (WAL, synchronous=FULL, as `tidings serve` runs it), creates
// juliet@capulet.example, delivers -n messages into her INBOX through the
// message store (16 concurrent writers, one minute of arrival time apart),
// signs in through the real login form and then times requests through the
// real webmail handler (the core with the mail section mounted), in
// process with httptest: the figures are the server's work (session
// check, queries, MIME parsing, sanitising, templates), not the network's.
//
// Timed pages:
//
//	list          /mail/INBOX/                 first page by date, newest first (the target)
//	list-subject  /mail/INBOX/?sort=subject     the same folder sorted by subject
//	list-search   /mail/INBOX/?q=topic+7        a search over subject, from and to
//	list-last     /mail/INBOX/?page=<last>      the last page (largest OFFSET)
//	view          /mail/INBOX/<uid>             a 13 KiB HTML+text mail with two attachments (the target)
//	view-html     /mail/INBOX/<uid>/html        its sanitised HTML for the iframe
//
// Each is requested -warmup times untimed, then -iter times; the tool prints
// p50, p99 and max, and exits with status 1 when a target is missed.
//
//	go run ./bench/webmailbench                 # 10,000 messages, 200 requests each
//	go run ./bench/webmailbench -n 50000 -iter 500
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/webmail/mailui"
	"github.com/tidings/tidings/webmail/web"
)

const (
	address  = "juliet@capulet.example"
	password = "correct horse battery"
	origin   = "https://mail.capulet.example"
)

type options struct {
	n, iter, warmup int
	dir             string
}

// timing is one page's figures.
type timing struct {
	name          string
	target        time.Duration // 0: no target
	p50, p99, max time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 10000, "messages in the folder")
	flag.IntVar(&o.iter, "iter", 200, "timed requests per page")
	flag.IntVar(&o.warmup, "warmup", 20, "untimed requests per page first")
	flag.StringVar(&o.dir, "dir", "", "data directory (default: a temporary one, removed)")
	flag.Parse()
	ts, err := run(o, os.Stdout)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range ts {
		if t.target > 0 && t.p99 >= t.target {
			os.Exit(1)
		}
	}
}

// bench is the webmail under test, signed in.
type bench struct {
	app     *web.App
	st      *store.Store
	user    accounts.User
	cookies []*http.Cookie
}

func run(o options, out io.Writer) ([]timing, error) {
	dir := o.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "webmailbench")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	b, stop, err := setup(dir)
	if err != nil {
		return nil, err
	}
	defer stop()
	start := time.Now()
	if err := b.fill(o.n); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "webmailbench: %d messages delivered to %s's INBOX in %s (SQLite in %s)\n", o.n, address,
		time.Since(start).Round(time.Millisecond), dir)
	viewUID, err := b.deliver(viewMessage(), time.Now())
	if err != nil {
		return nil, err
	}
	if err := b.login(); err != nil {
		return nil, err
	}
	pageSize := web.DefaultConfig().PageSize
	last := (o.n + 1 + pageSize - 1) / pageSize
	view := fmt.Sprintf("/mail/INBOX/%d", viewUID)
	pages := []struct {
		name, path, want string
		target           time.Duration
	}{
		{"list", "/mail/INBOX/", fmt.Sprintf("Message number %d ", o.n-1), 100 * time.Millisecond},
		{"list-subject", "/mail/INBOX/?sort=subject", "Message number", 0},
		{"list-search", "/mail/INBOX/?q=topic+7", "about topic 7", 0},
		{"list-last", fmt.Sprintf("/mail/INBOX/?page=%d", last), "Message number 0 ", 0},
		{"view", view, "quarterly-report.pdf", 50 * time.Millisecond},
		{"view-html", view + "/html", "Quarterly figures", 0},
	}
	fmt.Fprintf(out, "%-13s %6s %9s %9s %9s  %s\n", "page", "n", "p50", "p99", "max", "target")
	var ts []timing
	for _, p := range pages {
		t, err := b.time(p.name, p.path, p.want, o)
		if err != nil {
			return ts, err
		}
		t.target = p.target
		verdict := ""
		if t.target > 0 {
			verdict = fmt.Sprintf("p99 < %s: ok", t.target)
			if t.p99 >= t.target {
				verdict = fmt.Sprintf("p99 < %s: MISSED", t.target)
			}
		}
		fmt.Fprintf(out, "%-13s %6d %9s %9s %9s  %s\n", t.name, o.iter, ms(t.p50), ms(t.p99), ms(t.max), verdict)
		ts = append(ts, t)
	}
	return ts, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func setup(dir string) (*bench, func(), error) {
	ctx := context.Background()
	db, err := migrations.Open(ctx, migrations.DefaultConfig(filepath.Join(dir, "tidings.db")))
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	acfg := accounts.DefaultConfig()
	acfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, acfg, log, nil)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if _, err := acc.AddDomain(ctx, "capulet.example", accounts.DomainSettings{}); err != nil {
		db.Close()
		return nil, nil, err
	}
	u, err := acc.AddUser(ctx, accounts.NewUser{Address: address, Password: password, DisplayName: "Juliet"})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	st, err := store.New(db, dir, log)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	app, err := web.New(web.DefaultConfig(), web.Deps{DB: db, Accounts: acc, Store: st, Hostname: "mail.capulet.example",
		Log: log, MaxMessageSize: 50 << 20})
	if err == nil {
		err = mailui.Mount(app)
	}
	if err != nil {
		st.Close()
		db.Close()
		return nil, nil, err
	}
	return &bench{app: app, st: st, user: u}, func() { st.Close(); db.Close() }, nil
}

// fill delivers n list messages with 16 concurrent writers.
func (b *bench) fill(n int) error {
	base := time.Now().Add(-time.Duration(n+1) * time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if _, err := b.deliver(listMessage(i), base.Add(time.Duration(i)*time.Minute)); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (b *bench) deliver(msg string, at time.Time) (uint32, error) {
	res, err := b.st.Deliver(context.Background(), strings.NewReader(msg), store.DeliverOptions{InternalDate: at},
		[]store.Target{{User: b.user}})
	if err != nil {
		return 0, err
	}
	return res[0].UID, res[0].Err
}

var names = []string{"Romeo Montague", "Tybalt Capulet", "The Nurse", "Friar Laurence", "Mercutio", "Benvolio"}

func listMessage(i int) string {
	name := names[i%len(names)]
	return fmt.Sprintf("From: %s <%s@verona.example>\r\nTo: Juliet <%s>\r\nSubject: Message number %d about topic %d\r\n"+
		"Date: %s\r\nMessage-ID: <%d@bench>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		name, strings.ToLower(strings.Fields(name)[0]), address, i, i%13, time.Now().Format(time.RFC1123Z), i,
		strings.Repeat("Wherefore art thou? ", 40+i%100))
}

// viewMessage is a typical newsletter-like mail: text and HTML
// alternatives (the HTML with tables, inline styles and a remote image)
// and two small attachments.
func viewMessage() string {
	var html strings.Builder
	html.WriteString(`<html><head><style>p{color:red}</style></head><body><h1>Quarterly figures</h1><table width="100%">`)
	for i := range 40 {
		fmt.Fprintf(&html, `<tr><td style="padding:4px;color:#333">Row %d</td><td align="right">%d.00</td><td><a href="https://example.org/r/%d">details</a></td></tr>`, i, i*37, i)
	}
	html.WriteString(`</table><p><img src="https://tracker.example/p.gif" width="1" height="1"></p></body></html>`)
	text := strings.Repeat("Quarterly figures, row by row.\r\n", 40)
	return "From: Accounts <accounts@montague.example>\r\nTo: Juliet <" + address + ">\r\nSubject: The quarterly report\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <report@bench>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=mix\r\n\r\n--mix\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n" +
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html.String() + "\r\n--alt--\r\n" +
		"--mix\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=quarterly-report.pdf\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + strings.Repeat("JVBERi0xLjQKJeLjz9MK", 200) + "\r\n" +
		"--mix\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=figures.csv\r\n\r\n" +
		strings.Repeat("a,b,c\r\n", 100) + "--mix--\r\n"
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in through the login form and keeps the session cookie.
func (b *bench) login() error {
	rec := b.do(httptest.NewRequest("GET", origin+"/login", nil), nil)
	m := csrfField.FindStringSubmatch(rec.Body.String())
	if m == nil {
		return errors.New("login form without a CSRF token")
	}
	form := url.Values{"csrf": {m[1]}, "username": {address}, "password": {password}}
	req := httptest.NewRequest("POST", origin+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = b.do(req, rec.Result().Cookies())
	if rec.Code != http.StatusSeeOther {
		return fmt.Errorf("login: %d %s", rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == web.SessionCookie {
			b.cookies = []*http.Cookie{c}
			return nil
		}
	}
	return errors.New("login: no session cookie")
}

func (b *bench) do(req *http.Request, cookies []*http.Cookie) *httptest.ResponseRecorder {
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.app.ServeHTTP(rec, req)
	return rec
}

// time requests path o.warmup times, then o.iter times timed.
func (b *bench) time(name, path, want string, o options) (timing, error) {
	get := func() (time.Duration, error) {
		req := httptest.NewRequest("GET", origin+path, nil)
		start := time.Now()
		rec := b.do(req, b.cookies)
		d := time.Since(start)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			return d, fmt.Errorf("%s %s: %d, %q not in %.300s", name, path, rec.Code, want, rec.Body)
		}
		return d, nil
	}
	for range o.warmup {
		if _, err := get(); err != nil {
			return timing{}, err
		}
	}
	ds := make([]time.Duration, 0, o.iter)
	for range o.iter {
		d, err := get()
		if err != nil {
			return timing{}, err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	pct := func(p float64) time.Duration { return ds[min(len(ds)-1, int(float64(len(ds))*p))] }
	return timing{name: name, p50: pct(0.50), p99: pct(0.99), max: ds[len(ds)-1]}, nil
}
