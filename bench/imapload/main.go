// Command imapload measures the IMAP server on a large mailbox: it fills a
// fresh SQLite database (synchronous=FULL) with -n messages through the
// store, starts Tidings' IMAP server in-process on loopback, and times
// SELECT, UID FETCH 1:* (UID FLAGS), FETCH ENVELOPE of 10,000 messages and
// SEARCH FROM/SUBJECT; then runs a mixed load of -clients clients on a
// 1,000-message mailbox for -duration (SELECT 10%, FETCH 35%, SEARCH 20%,
// STORE 25%, APPEND 10%) and reports operations/s and latency percentiles.
//
//	go run ./bench/imapload -n 100000
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/testcert"
	"github.com/tidings/tidings/mail/imapd"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations"
)

const password = "correct horse battery"

func main() {
	n := flag.Int("n", 100000, "messages in the big mailbox")
	clients := flag.Int("clients", 8, "clients in the mixed load")
	duration := flag.Duration("duration", 20*time.Second, "length of the mixed load")
	flag.Parse()
	if err := run(*n, *clients, *duration); err != nil {
		log.Fatal(err)
	}
}

type bench struct {
	ctx  context.Context
	st   *store.Store
	acc  *accounts.Store
	addr string
}

func run(n, clients int, duration time.Duration) error {
	dir, err := os.MkdirTemp("", "imapload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, stop, err := setup(dir)
	if err != nil {
		return err
	}
	defer stop()
	big, err := b.fill("big@capulet.example", n)
	if err != nil {
		return err
	}
	if err := b.single(big, n); err != nil {
		return err
	}
	small, err := b.fill("small@capulet.example", min(n, 1000))
	if err != nil {
		return err
	}
	return b.mixed(small, clients, duration)
}

func setup(dir string) (*bench, func(), error) {
	ctx := context.Background()
	db, err := migrations.Open(ctx, migrations.DefaultConfig(filepath.Join(dir, "tidings.db")))
	if err != nil {
		return nil, nil, err
	}
	acfg := accounts.DefaultConfig()
	acfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, acfg, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	acc.AddDomain(ctx, "capulet.example", accounts.DomainSettings{})
	st, err := store.New(db, dir, nil)
	if err != nil {
		return nil, nil, err
	}
	tlsCfg, err := testcert.Config("mail.capulet.example")
	if err != nil {
		return nil, nil, err
	}
	cfg := imapd.DefaultConfig()
	cfg.MaxConnsPerIP, cfg.MaxConnsPerUser = 100, 100
	srv, err := imapd.New(cfg, imapd.Deps{TLS: tlsCfg, Accounts: acc, Store: st})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	go srv.Serve(ln, imapd.IMAP)
	stop := func() { srv.Close(); st.Close(); db.Close() }
	return &bench{ctx: ctx, st: st, acc: acc, addr: ln.Addr().String()}, stop, nil
}

var froms = []string{"tybalt@capulet.example", "romeo@montague.example", "nurse@capulet.example", "friar@verona.example"}

func message(i int) string {
	return fmt.Sprintf("From: %s\r\nTo: juliet@capulet.example\r\nSubject: message %d about %s\r\nMessage-ID: <%d@bench>\r\n"+
		"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\n%s\r\n", froms[i%len(froms)], i, []string{"love", "war", "wine", "plague"}[i%4], i,
		strings.Repeat("Lorem ipsum dolor sit amet.\r\n", 60))
}

// fill creates a user and delivers n messages with 8 concurrent writers
// (group commit), flagging every third as seen.
func (b *bench) fill(addr string, n int) (accounts.User, error) {
	u, err := b.acc.AddUser(b.ctx, accounts.NewUser{Address: addr, Password: password})
	if err != nil {
		return u, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				var flags []string
				if i%3 == 0 {
					flags = []string{`\Seen`}
				}
				if _, err := b.st.Deliver(b.ctx, strings.NewReader(message(i)), store.DeliverOptions{}, []store.Target{{User: u, Flags: flags}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return u, err
	}
	el := time.Since(start)
	fmt.Printf("filled %s with %d messages in %v (%.0f/s)\n", addr, n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	return u, nil
}

func (b *bench) login(u accounts.User) (*imapclient.Client, error) {
	c, err := imapclient.DialStartTLS(b.addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		return nil, err
	}
	if err := c.Login(u.Address, password).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func timed(name string, fn func() error) error {
	start := time.Now()
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Printf("%-40s %v\n", name, time.Since(start).Round(100*time.Microsecond))
	return nil
}

// single times the big-mailbox operations of the targets.
func (b *bench) single(u accounts.User, n int) error {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapInuse
	c, err := b.login(u)
	if err != nil {
		return err
	}
	defer c.Close()
	steps := []struct {
		name string
		fn   func() error
	}{
		{fmt.Sprintf("SELECT INBOX (%d messages)", n), func() error { _, err := c.Select("INBOX", nil).Wait(); return err }},
		{"UID FETCH 1:* (UID FLAGS)", func() error {
			_, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
			return err
		}},
		{"FETCH 1:10000 (ENVELOPE)", func() error {
			_, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: uint32(min(n, 10000))}}, &imap.FetchOptions{Envelope: true}).Collect()
			return err
		}},
		{"SEARCH FROM romeo", func() error {
			_, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "romeo"}}}, nil).Wait()
			return err
		}},
		{"SEARCH SUBJECT plague", func() error {
			_, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "plague"}}}, nil).Wait()
			return err
		}},
	}
	for _, s := range steps {
		if err := timed(s.name, s.fn); err != nil {
			return err
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	fmt.Printf("%-40s %d KiB (heap in use, with one selected session)\n", "server+client memory growth", (int64(ms.HeapInuse)-int64(before))/1024)
	return nil
}

// mixed runs the mixed load and reports throughput and latency.
func (b *bench) mixed(u accounts.User, clients int, duration time.Duration) error {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	deadline := time.Now().Add(duration)
	for range clients {
		wg.Go(func() {
			c, err := b.login(u)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				errs <- err
				return
			}
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := op(c, mrand.IntN(100)); err != nil {
					errs <- err
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration {
		return lat[min(len(lat)-1, int(float64(len(lat))*q))].Round(10 * time.Microsecond)
	}
	fmt.Printf("mixed load, %d clients, %v: %d operations, %.0f ops/s; latency p50 %v p99 %v max %v\n",
		clients, duration, len(lat), float64(len(lat))/duration.Seconds(), p(0.5), p(0.99), lat[len(lat)-1].Round(10*time.Microsecond))
	return nil
}

// op runs one operation of the mix: SELECT 10%, FETCH 35%, SEARCH 20%,
// STORE 25%, APPEND 10%.
func op(c *imapclient.Client, r int) error {
	uid := imap.UID(1 + mrand.IntN(1000))
	switch {
	case r < 10:
		_, err := c.Select("INBOX", nil).Wait()
		return err
	case r < 45:
		_, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{Envelope: true, Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		return err
	case r < 65:
		_, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "wine"}}}, nil).Wait()
		return err
	case r < 90:
		return c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
	default:
		m := message(mrand.IntN(1 << 30))
		cmd := c.Append("INBOX", int64(len(m)), nil)
		if _, err := cmd.Write([]byte(m)); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		_, err := cmd.Wait()
		return err
	}
}
