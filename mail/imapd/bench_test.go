package imapd

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations/dbtest"
)

// benchMessages is the size of the benchmarks' mailbox; TIDINGS_BENCH_MESSAGES
// changes it (filling 100,000 messages takes about half a minute).
func benchMessages(b *testing.B) int {
	n := 100000
	if v := os.Getenv("TIDINGS_BENCH_MESSAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("TIDINGS_BENCH_MESSAGES=%q: want a positive number", v)
		}
	}
	return n
}

var benchFroms = []string{"Tybalt <tybalt@capulet.example>", "romeo@montague.example", "Nurse <nurse@capulet.example>", "friar@verona.example"}

func benchMessage(i int) string {
	return fmt.Sprintf("From: %s\r\nTo: juliet@capulet.example\r\nSubject: message %d about %s\r\nMessage-ID: <%d@bench>\r\n"+
		"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\n%s\r\n", benchFroms[i%len(benchFroms)], i,
		[]string{"love", "war", "wine", "plague"}[i%4], i, strings.Repeat("Lorem ipsum dolor sit amet.\r\n", 60))
}

// BenchmarkBigMailbox times what a client does first on a large mailbox,
// through a real server and client on loopback: SELECT (the load of the
// mailbox, each time after a fresh login), SELECT again while logged in,
// UID FETCH 1:* (UID FLAGS), and SEARCH on the cached From and Subject.
//
//	go test -run XXX -bench BigMailbox ./mail/imapd
func BenchmarkBigMailbox(b *testing.B) {
	n := benchMessages(b)
	ctx := context.Background()
	db := dbtest.SQLite(b)
	acfg := accounts.DefaultConfig()
	acfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, acfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := acc.AddDomain(ctx, "capulet.example", accounts.DomainSettings{}); err != nil {
		b.Fatal(err)
	}
	u, err := acc.AddUser(ctx, accounts.NewUser{Address: "juliet@capulet.example", Password: pw})
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.New(db, b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	fillBench(b, st, u, n)
	srv, err := New(DefaultConfig(), Deps{TLS: selfSigned(b), Accounts: acc, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln, IMAP)
	b.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	login := func() *imapclient.Client {
		c, err := imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Login(u.Address, pw).Wait(); err != nil {
			b.Fatal(err)
		}
		return c
	}
	selectInbox := func(c *imapclient.Client) {
		if d, err := c.Select("INBOX", nil).Wait(); err != nil || d.NumMessages != uint32(n) {
			b.Fatal(d, err)
		}
	}
	// The first SELECT after login loads the mailbox.
	b.Run("Select", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			c := login()
			b.StartTimer()
			selectInbox(c)
			b.StopTimer()
			c.Close()
			waitLoggedOut(b, srv, u.ID)
			b.StartTimer()
		}
	})
	c := login()
	b.Cleanup(func() { c.Close() })
	// Selecting it again while the user is still logged in does not.
	b.Run("SelectAgain", func(b *testing.B) {
		for b.Loop() {
			selectInbox(c)
			if err := c.Unselect().Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	b.Run("FetchFlags", func(b *testing.B) {
		for b.Loop() {
			ms, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
			if err != nil || len(ms) != n {
				b.Fatal(len(ms), err)
			}
		}
	})
	searches := []struct {
		name, key, value string
		want             int
	}{
		{"SearchFrom", "From", "romeo", (n + 2) / 4},
		{"SearchFromName", "From", "TYBALT", (n + 3) / 4},
		{"SearchSubject", "Subject", "plague", n / 4},
	}
	for _, s := range searches {
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				d, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: s.key, Value: s.value}}}, nil).Wait()
				if err != nil || len(d.AllSeqNums()) != s.want {
					b.Fatal(len(d.AllSeqNums()), s.want, err)
				}
			}
		})
	}
}

// fillBench imports n messages into u's INBOX, every third one \Seen, in
// batches of one transaction each.
func fillBench(b *testing.B, st *store.Store, u accounts.User, n int) {
	const batch = 1000
	ctx := context.Background()
	for start := 0; start < n; start += batch {
		var msgs []store.ImportMessage
		for i := start; i < min(start+batch, n); i++ {
			sp, err := st.Spool(strings.NewReader(benchMessage(i)), 0)
			if err != nil {
				b.Fatal(err)
			}
			var flags []string
			if i%3 == 0 {
				flags = []string{`\Seen`}
			}
			msgs = append(msgs, store.ImportMessage{Body: sp, Flags: flags})
		}
		if _, err := st.Import(ctx, u, msgs); err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs {
			m.Body.Close()
		}
	}
}

// waitLoggedOut waits until the server has dropped the state of a user
// whose last connection closed.
func waitLoggedOut(b *testing.B, srv *Server, userID int64) {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		srv.mu.Lock()
		_, in := srv.users[userID]
		srv.mu.Unlock()
		if !in {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("the server kept the user after the connection closed")
		}
	}
}
