// Command smtpload measures local delivery through the SMTP server: it starts
// Tidings' SMTP server in-process on loopback over a fresh SQLite database
// (WAL, synchronous=FULL: every acknowledged message is on disk), opens
// -conns connections and sends -n messages of -size bytes in total to a
// local user, and prints messages/s and latency percentiles (MAIL FROM to
// the 250 after DATA).
//
//	go run ./bench/smtpload -conns 10 -n 5000 -size 4096
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/testcert"
	"github.com/tidings/tidings/mail/delivery"
	"github.com/tidings/tidings/mail/smtpd"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations"
)

func main() {
	conns := flag.Int("conns", 10, "concurrent SMTP connections")
	n := flag.Int("n", 5000, "messages in total")
	size := flag.Int("size", 4096, "message size in bytes")
	dir := flag.String("dir", "", "data directory (default: a temporary one, removed afterwards)")
	flag.Parse()
	if err := run(*conns, *n, *size, *dir); err != nil {
		log.Fatal(err)
	}
}

func run(conns, n, size int, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "smtpload")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	ctx := context.Background()
	db, err := migrations.Open(ctx, migrations.DefaultConfig(filepath.Join(dir, "tidings.db")))
	if err != nil {
		return err
	}
	defer db.Close()
	acc, err := accounts.New(db, accounts.DefaultConfig(), nil, nil)
	if err != nil {
		return err
	}
	acc.AddDomain(ctx, "capulet.example", accounts.DomainSettings{})
	if _, err := acc.AddUser(ctx, accounts.NewUser{Address: "juliet@capulet.example", Password: "correct horse battery"}); err != nil {
		return err
	}
	st, err := store.New(db, dir, nil)
	if err != nil {
		return err
	}
	tlsCfg, err := testcert.Config("mail.capulet.example")
	if err != nil {
		return err
	}
	cfg := smtpd.DefaultConfig()
	cfg.MaxConnsPerIP = conns + 1
	srv, err := smtpd.New(cfg, smtpd.Deps{Hostname: "mail.capulet.example", TLS: tlsCfg, Accounts: acc,
		Deliverer: &delivery.Deliverer{Store: st}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(ln, smtpd.MX)
	defer srv.Close()

	msg := message(size)
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	errs := make(chan error, conns)
	for i := range conns {
		count := n / conns
		if i < n%conns {
			count++
		}
		wg.Go(func() {
			l, err := sender(ln.Addr().String(), count, msg)
			lat[i] = l
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(float64(len(all))*p))] }
	fmt.Printf("%d messages of %d bytes over %d connections in %v: %.0f messages/s; latency p50 %v p90 %v p99 %v max %v\n",
		len(all), size, conns, elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds(),
		pct(0.5).Round(10*time.Microsecond), pct(0.9).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), all[len(all)-1].Round(10*time.Microsecond))
	return nil
}

func sender(addr string, count int, msg string) ([]time.Duration, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Hello("load.example"); err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, count)
	for range count {
		t := time.Now()
		if err := c.SendMail("load@montague.example", []string{"juliet@capulet.example"}, strings.NewReader(msg)); err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t))
	}
	return lat, c.Quit()
}

func message(size int) string {
	h := "From: load@montague.example\r\nTo: juliet@capulet.example\r\nSubject: load\r\n\r\n"
	var b strings.Builder
	b.WriteString(h)
	for b.Len() < size-2 {
		b.WriteString(strings.Repeat("x", min(76, size-2-b.Len())) + "\r\n")
	}
	return b.String()
}
