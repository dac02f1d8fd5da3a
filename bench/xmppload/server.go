package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/bench/internal/serveproc"
	"github.com/tidings/tidings/migrations"
)

// config is the server's configuration for load: only the XMPP client
// listeners and the admin listener (metrics), on loopback ports the kernel
// picks; no rate shaping (it would throttle the tool, which sends from few
// addresses at many times a human's rate); no per-address connection cap.
const config = `hostname = %q
domains = [%q]
data_dir = %q

[log]
level = "info"

[listen]
admin = "127.0.0.1:0"
smtp = ""
submission = ""
submissions = ""
imap = ""
imaps = ""
managesieve = ""
xmpp_client = "127.0.0.1:0"
xmpp_client_tls = "127.0.0.1:0"
xmpp_server = ""
xmpp_server_tls = ""
http = ""
https = ""

[accounts]
scram_iterations = 4096

[xmpp.c2s]
max_conns_per_ip = 1000000

[xmpp.c2s.pre_auth]
bytes_per_second = 0

[xmpp.c2s.post_auth]
bytes_per_second = 0
`

// startServer runs `tidings serve` on dir with the load configuration,
// once its XMPP client listeners and admin listener are up.
func startServer(bin, dir, domain string) (*serveproc.Proc, error) {
	return serveproc.Start(bin, dir, fmt.Sprintf(config, "xmpp."+domain, domain, dir), nil,
		"xmpp_client", "xmpp_client_tls", "admin")
}

// createUsers makes sure prefix0..prefix<n-1>@domain exist in the SQLite
// database at dbPath (creating the domain too), and derives each one's
// client-side SCRAM-SHA-1 keys into keys. New users get 4096 PBKDF2
// iterations (the minimum) so that creating 10,000 takes seconds.
func createUsers(ctx context.Context, dbPath, domain, prefix, password string, n int, keys *keyCache) (created int, err error) {
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o750); err != nil {
		return 0, err
	}
	db, err := migrations.Open(ctx, migrations.DefaultConfig(dbPath))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	cfg := accounts.DefaultConfig()
	cfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, cfg, nil, nil)
	if err != nil {
		return 0, err
	}
	if _, err := acc.AddDomain(ctx, domain, accounts.DomainSettings{}); err != nil && !errors.Is(err, accounts.ErrExists) {
		return 0, err
	}
	var next, made atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 { // PBKDF2 on both cores while the other workers wait on the database
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				addr := fmt.Sprintf("%s%d@%s", prefix, i, domain)
				cred, _, err := acc.SCRAMCredential(ctx, addr, accounts.SCRAMSHA1)
				if errors.Is(err, accounts.ErrNotFound) {
					if _, err = acc.AddUser(ctx, accounts.NewUser{Address: addr, Password: password}); err == nil {
						made.Add(1)
						cred, _, err = acc.SCRAMCredential(ctx, addr, accounts.SCRAMSHA1)
					}
				}
				if err == nil {
					var k scramKeys
					if k, err = deriveKeys(password, cred.Salt, cred.Iterations); err == nil {
						keys.put(fmt.Sprintf("%s%d", prefix, i), k)
					}
				}
				if err != nil {
					errs <- fmt.Errorf("user %s: %w", addr, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return int(made.Load()), <-errs
}

// raiseFileLimit lifts the open-file soft limit to the hard limit: 10,000
// sessions need 10,000 descriptors in the tool and as many in the server,
// which inherits the limit when the tool starts it.
func raiseFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}
