package mailui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/webmail/mailui"
	"github.com/tidings/tidings/webmail/web"
	"github.com/tidings/tidings/webmail/web/webtest"
)

// fill delivers n messages to juliet's INBOX, 16 at a time (the store
// commits concurrent deliveries in groups), one minute apart.
func fill(b testing.TB, e *webtest.Env, n int) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				msg := webtest.Message(fmt.Sprintf("Sender %d <s%d@example.org>", i%97, i%97), e.Juliet.Address,
					fmt.Sprintf("Message number %d about topic %d", i, i%13), strings.Repeat("Some text. ", 50))
				_, err := e.Store.Deliver(context.Background(), strings.NewReader(msg),
					store.DeliverOptions{InternalDate: base.Add(time.Duration(i) * time.Minute)}, []store.Target{{User: e.Juliet}})
				if err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// serve runs one request through the handler (no network) as c.
func serve(b *testing.B, e *webtest.Env, c *webtest.Client, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", e.Server.URL+path, nil)
	u, _ := url.Parse(e.Server.URL)
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	e.App.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
	}
	return rec
}

// BenchmarkListPage10k renders the first page (by date, newest first) of
// a 10,000-message INBOX through the real handler. Target: < 100 ms.
func BenchmarkListPage10k(b *testing.B) {
	e := webtest.New(b, webtest.Options{Mount: []func(*web.App) error{mailui.Mount}})
	fill(b, e, 10000)
	c := e.Login(b, e.Juliet.Address)
	if rec := serve(b, e, c, "/mail/INBOX/"); !strings.Contains(rec.Body.String(), "Message number 9999 ") {
		b.Fatal("newest message not on the first page")
	}
	for b.Loop() {
		serve(b, e, c, "/mail/INBOX/")
	}
}

// BenchmarkMessageView renders a message of that INBOX. Target: < 50 ms.
func BenchmarkMessageView(b *testing.B) {
	e := webtest.New(b, webtest.Options{Mount: []func(*web.App) error{mailui.Mount}})
	fill(b, e, 10000)
	uid := e.Deliver(b, e.Juliet, "", multipartMessage(strings.Repeat(hostileHTML, 5)))
	c := e.Login(b, e.Juliet.Address)
	path := fmt.Sprintf("/mail/INBOX/%d", uid)
	for b.Loop() {
		serve(b, e, c, path)
	}
}
