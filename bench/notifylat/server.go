package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/bench/internal/serveproc"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/internal/testdns"
	"github.com/tidings/tidings/migrations"
)

// The scenario's names.
const (
	domain       = "capulet.example"
	juliet       = "juliet@capulet.example"
	password     = "correct horse battery"
	senderDomain = "montague.example"
	sender       = "tybalt@montague.example" // juliet's contact
	senderName   = "Tybalt"
)

// script is juliet's active script: a headline for mail from anyone in her
// address book.
const script = `require ["enotify","extlists"]; if address :list "from" ":addrbook:default" { notify "xmpp:juliet@capulet.example"; }`

// config is the server's configuration: the MX listener, the XMPP client
// listener and the admin listener (metrics) on loopback ports the kernel
// picks, and the tool's DNS server as resolver (the MX checks SPF and
// DMARC of every mail). Everything else is the default.
const config = `hostname = "mx.capulet.example"
domains = [%q]
data_dir = %q
resolver = %q

[log]
level = "info"

[listen]
admin = "127.0.0.1:0"
smtp = "127.0.0.1:0"
submission = ""
submissions = ""
imap = ""
imaps = ""
managesieve = ""
xmpp_client = "127.0.0.1:0"
xmpp_client_tls = ""
xmpp_server = ""
xmpp_server_tls = ""
http = ""
https = ""
`

// setup creates the domain, juliet (4096 SCRAM iterations), her contact
// and her active script in the SQLite database at dbPath, before the
// server opens it.
func setup(ctx context.Context, dbPath string) error {
	db, err := migrations.Open(ctx, migrations.DefaultConfig(dbPath))
	if err != nil {
		return err
	}
	defer db.Close()
	cfg := accounts.DefaultConfig()
	cfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, cfg, nil, nil)
	if err != nil {
		return err
	}
	if _, err := acc.AddDomain(ctx, domain, accounts.DomainSettings{}); err != nil {
		return err
	}
	u, err := acc.AddUser(ctx, accounts.NewUser{Address: juliet, Password: password})
	if err != nil {
		return err
	}
	if _, err := acc.AddContact(ctx, juliet, accounts.Contact{Name: senderName, Email: sender}); err != nil {
		return err
	}
	sc := filters.New(db, acc, filters.Config{}, nil).Scripts()
	if err := sc.Put(ctx, u.ID, "notify", script); err != nil {
		return err
	}
	return sc.Activate(ctx, u.ID, "notify")
}

// startServer runs `tidings serve` on dir with env added, resolving
// through resolver, once its MX, XMPP client and admin listeners are up.
func startServer(bin, dir, resolver string, env ...string) (*serveproc.Proc, error) {
	return serveproc.Start(bin, dir, fmt.Sprintf(config, domain, dir, resolver), env, "smtp", "xmpp_client", "admin")
}

// troubles returns the server's WARN and ERROR log lines (at most 20)
// but the one about the self-signed certificate it creates.
func troubles(p *serveproc.Proc) []string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && len(out) < 20 {
		l := sc.Text()
		if strings.Contains(l, "self-signed certificate") {
			continue
		}
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// cpuSeconds reads process_cpu_seconds_total from the server's metrics.
func cpuSeconds(admin string) (float64, error) {
	m, err := serveproc.Metrics(admin)
	if err != nil {
		return 0, err
	}
	v, ok := m["process_cpu_seconds_total"]
	if !ok {
		return 0, errors.New("/metrics: no process_cpu_seconds_total")
	}
	return v, nil
}

// startDNS answers the MX's SPF and DMARC look-ups for the sender's domain
// on loopback, so that no look-up leaves the machine or waits on a
// resolver that cannot answer: the sender's SPF record passes
// 127.0.0.0/8, its DMARC policy is none.
func startDNS() (*testdns.Server, error) {
	return testdns.New(
		senderDomain+`. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		"_dmarc."+senderDomain+`. 300 IN TXT "v=DMARC1; p=none"`)
}
