package mailui_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations/dbtest"
	"github.com/tidings/tidings/webmail/mailui"
	"github.com/tidings/tidings/webmail/web"
	"github.com/tidings/tidings/webmail/web/webtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func newEnv(t testing.TB) *webtest.Env {
	cfg := web.DefaultConfig()
	cfg.PageSize = 5
	return webtest.New(t, webtest.Options{Config: &cfg, Mount: []func(*web.App) error{mailui.Mount}})
}

// login signs in and loads a page, for the session's CSRF token.
func login(t *testing.T, e *webtest.Env, u accounts.User) *webtest.Client {
	t.Helper()
	c := e.Login(t, u.Address)
	if res := c.Get("/mail/INBOX/"); res.StatusCode != http.StatusOK {
		t.Fatalf("inbox: %d", res.StatusCode)
	}
	return c
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s: missing %q", what, w)
		}
	}
	if t.Failed() {
		t.Logf("%s body:\n%s", what, body)
		t.FailNow()
	}
}

func mustNotContain(t *testing.T, what, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("%s: contains %q", what, b)
		}
	}
	if t.Failed() {
		t.Logf("%s body:\n%s", what, body)
		t.FailNow()
	}
}

var rowPattern = regexp.MustCompile(`<tr id="msg-(\d+)"[^>]*>(?s:.*?)<td class="col-subject"><a href="[^"]*">([^<]*)</a>`)

// rows returns the subjects of a list page's rows, in order.
func rows(body string) []string {
	var out []string
	for _, m := range rowPattern.FindAllStringSubmatch(body, -1) {
		out = append(out, m[2])
	}
	return out
}

func mailbox(t *testing.T, e *webtest.Env, u accounts.User, name string) store.Mailbox {
	t.Helper()
	m, err := e.Store.Mailbox(context.Background(), u.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func list(t *testing.T, e *webtest.Env, u accounts.User, name string) []store.Message {
	t.Helper()
	ms, err := e.Store.List(context.Background(), mailbox(t, e, u, name).ID, store.AllUIDs, true)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func flags(t *testing.T, e *webtest.Env, u accounts.User, box string, uid uint32) []string {
	t.Helper()
	for _, m := range list(t, e, u, box) {
		if m.UID == uid {
			return m.Flags
		}
	}
	t.Fatalf("%s: no uid %d", box, uid)
	return nil
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestListPagingSortSearch(t *testing.T) {
	e := newEnv(t)
	c := login(t, e, e.Juliet)
	if res := c.Get("/mail/"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/mail/INBOX/" {
		t.Fatalf("/mail/: %d %v", res.StatusCode, res.Header)
	}
	subjects := []string{"kiwi", "Apple", "mango", "banana", "cherry", "date", "elderberry"}
	for i, s := range subjects {
		from := fmt.Sprintf("Sender %c <s%d@example.org>", 'Z'-i, i)
		e.Deliver(t, e.Juliet, "", webtest.Message(from, e.Juliet.Address, s, strings.Repeat("x", i*100)))
	}
	// Newest first by default, 5 a page.
	res := c.Get("/mail/INBOX/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", res.StatusCode, res.Body)
	}
	if got := strings.Join(rows(res.Body), ","); got != "elderberry,date,cherry,banana,mango" {
		t.Fatalf("page 1: %s", got)
	}
	mustContain(t, "page 1", res.Body, "7 messages", "Page 1 of 2", `rel="next"`, `<span class="folder-name">Inbox</span> <span class="unread-count">7`,
		`aria-sort="descending"`, "Mark read", "Move to", `name="uid" value="7"`)
	res = c.Get("/mail/INBOX/?page=2")
	if got := strings.Join(rows(res.Body), ","); got != "Apple,kiwi" {
		t.Fatalf("page 2: %s", got)
	}
	res = c.Get("/mail/INBOX/?sort=subject")
	if got := strings.Join(rows(res.Body), ","); got != "Apple,banana,cherry,date,elderberry" {
		t.Fatalf("by subject: %s", got)
	}
	res = c.Get("/mail/INBOX/?sort=size&order=desc&page=2")
	if got := strings.Join(rows(res.Body), ","); got != "Apple,kiwi" {
		t.Fatalf("by size desc, page 2: %s", got)
	}
	res = c.Get("/mail/INBOX/?sort=from") // Sender Z (kiwi) … Sender T (elderberry), ascending
	if got := strings.Join(rows(res.Body), ","); got != "elderberry,date,cherry,banana,mango" {
		t.Fatalf("by from: %s", got)
	}
	res = c.Get("/mail/INBOX/?q=ERRY")
	if got := strings.Join(rows(res.Body), ","); got != "elderberry,cherry" {
		t.Fatalf("search: %s", got)
	}
	mustContain(t, "search", res.Body, "2 found for “ERRY”")
	res = c.Get("/mail/INBOX/?q=s3%40example")
	if got := strings.Join(rows(res.Body), ","); got != "banana" {
		t.Fatalf("search by from: %s", got)
	}
	// Sort links keep the search.
	mustContain(t, "search links", res.Body, `href="/mail/INBOX/?q=s3%40example&amp;sort=subject"`)
	// The htmx refresh gets the list alone.
	req, _ := http.NewRequest("GET", e.Server.URL+"/mail/INBOX/", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Target", "message-list")
	res = c.Do(req)
	if !strings.HasPrefix(res.Body, `<div id="message-list"`) || strings.Contains(res.Body, "<html") {
		t.Fatalf("fragment: %.200s", res.Body)
	}
	// The folder fragment.
	res = c.Get("/mail/folders?box=INBOX")
	mustContain(t, "folders", res.Body, `<nav id="folders"`, `aria-current="page"`, ">Trash<", "/mail/Sent/")
	// Unknown mailbox.
	if res := c.Get("/mail/Nope/"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown mailbox: %d", res.StatusCode)
	}
}

func TestHierarchicalMailbox(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.Store.CreateMailbox(ctx, e.Juliet.ID, "Work/Pro jects & more", ""); err != nil {
		t.Fatal(err)
	}
	uid := e.Deliver(t, e.Juliet, "Work/Pro jects & more", webtest.Message("romeo@capulet.example", e.Juliet.Address, "Nested", "deep"))
	c := login(t, e, e.Juliet)
	res := c.Get("/mail/INBOX/")
	mustContain(t, "folders", res.Body, `href="/mail/Work%2FPro%20jects%20&amp;%20more/"`, `class="depth1"`)
	res = c.Get("/mail/Work%2FPro%20jects%20&%20more/")
	if got := rows(res.Body); len(got) != 1 || got[0] != "Nested" {
		t.Fatalf("nested list: %v %d", got, res.StatusCode)
	}
	res = c.Get("/mail/Work%2FPro%20jects%20&%20more/" + strconv.Itoa(int(uid)))
	mustContain(t, "nested view", res.Body, "deep", "Work / Pro jects &amp; more")
}

func TestViewPlain(t *testing.T) {
	e := newEnv(t)
	uid := e.Deliver(t, e.Juliet, "", webtest.Message(`"Romeo M." <romeo@montague.example>`, "Juliet <juliet@capulet.example>",
		"Hello <there>", "See https://example.org/a?b=1&c=2. <script>alert(1)</script>"))
	c := login(t, e, e.Juliet)
	if f := flags(t, e, e.Juliet, "INBOX", uid); has(f, `\Seen`) {
		t.Fatal("seen before viewing")
	}
	res := c.Get("/mail/INBOX/" + strconv.Itoa(int(uid)))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("view: %d %s", res.StatusCode, res.Body)
	}
	mustContain(t, "view", res.Body, "Hello &lt;there&gt;", "Romeo M. &lt;romeo@montague.example&gt;",
		`<a href="https://example.org/a?b=1&amp;c=2" rel="noopener noreferrer" target="_blank">https://example.org/a?b=1&amp;c=2</a>.`,
		"&lt;script&gt;alert(1)&lt;/script&gt;", `action="/contacts/add-sender"`, `name="email" value="romeo@montague.example"`,
		`name="name" value="Romeo M."`, "Add sender to contacts", "Reply all", "View source", "/mail/compose?reply=INBOX%2f1")
	mustNotContain(t, "view", res.Body, "<script>alert", "<iframe")
	if f := flags(t, e, e.Juliet, "INBOX", uid); !has(f, `\Seen`) {
		t.Fatalf("not marked read: %v", f)
	}
	res = c.Get("/mail/INBOX/" + strconv.Itoa(int(uid)) + "/raw")
	if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || !strings.Contains(res.Body, "Message-ID: <hello.<there>@test>") {
		t.Fatalf("raw: %s %q", ct, res.Body)
	}
	for _, p := range []string{"/mail/INBOX/99", "/mail/INBOX/0", "/mail/INBOX/x", "/mail/INBOX/1/html", "/mail/INBOX/1/part/7", "/mail/Nope/1"} {
		if res := c.Get(p); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
	}
}

// multipartMessage is an HTML mail with a plain alternative, an inline
// image and two attachments.
func multipartMessage(html string) string {
	return "From: Mallory <mallory@evil.example>\r\nTo: juliet@capulet.example\r\nSubject: Hostile\r\n" +
		"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <hostile@evil.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/related; boundary=rel\r\n\r\n" +
		"--rel\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain version.\r\n" +
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + qp(html) + "\r\n" +
		"--alt--\r\n" +
		"--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@evil>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n" +
		"--rel--\r\n" +
		"--outer\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n" +
		"--outer\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename=\"../evil.html\"\r\n\r\n<script>alert(2)</script>\r\n" +
		"--outer--\r\n"
}

func qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.String()
}

const hostileHTML = `<html><head><style>body{background:url(https://evil.example/bg)}</style><script>alert('x')</script></head>
<body onload="alert(1)"><p style="color:red" onclick="steal()">Hi <b>there</b></p>
<img src="https://tracker.evil.example/pixel.gif" alt="pixel" onerror="alert(3)">
<img src="cid:logo@evil" alt="logo">
<a href="javascript:alert(4)">click</a> <a href="data:text/html;base64,PHNjcmlwdD4=">data</a>
<a href="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">svg</a> <a href=" JaVaScRiPt:alert(6)">mixed</a> <a href="DaTa:text/html,x">upper</a> <a href="https://ok.example/page">fine link</a>
<iframe src="https://evil.example/frame"></iframe>
<form action="https://evil.example/phish"><input name="password"><button>Log in</button></form>
<object data="https://evil.example/x.swf"></object><svg onload="alert(5)"></svg>
<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=https://evil.example/">
</body></html>`

func TestViewHTMLSanitised(t *testing.T) {
	e := newEnv(t)
	uid := e.Deliver(t, e.Juliet, "", multipartMessage(hostileHTML))
	c := login(t, e, e.Juliet)
	base := "/mail/INBOX/" + strconv.Itoa(int(uid))
	res := c.Get(base)
	mustContain(t, "view", res.Body, `<iframe id="msg-body" class="html-body" title="Message text" sandbox="allow-popups allow-popups-to-escape-sandbox"`,
		`src="`+base+`/html"`, "1 remote image is blocked", "Load images", "report.pdf", "evil.html", base+"/part/",
		"Show plain text")
	mustNotContain(t, "view", res.Body, "allow-scripts", "allow-same-origin", "Plain version.")
	// The inline image the HTML embeds is not listed as an attachment.
	if strings.Count(res.Body, base+"/part/") != 2 {
		t.Fatalf("attachments: %s", res.Body)
	}

	res = c.Get(base + "/html")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("html: %d %s", res.StatusCode, res.Body)
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "img-src data:;") || strings.Contains(csp, "script-src") ||
		!strings.Contains(csp, "frame-ancestors 'self'") || res.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Fatalf("html headers: %v", res.Header)
	}
	body := strings.ToLower(res.Body)
	mustContain(t, "html", body, "hi <b>there</b>", `style="color: red"`, `href="https://ok.example/page"`, `rel="nofollow noreferrer noopener"`,
		`src="data:image/png;base64,ivborw0kggo="`)
	mustNotContain(t, "html", body, "<script", "alert(", "onload", "onclick", "onerror", "javascript:", "<iframe", "<form", "<input",
		"<object", "<svg", "<base", "http-equiv", `href="data:`, "tracker.evil.example", "evil.example/bg", "evil.example/frame", "evil.example/phish",
		"cid:")
	if n := strings.Count(body, "<style"); n != 1 { // only our own
		t.Fatalf("style elements: %d", n)
	}

	// Loading images: the remote image stays and the policy allows it.
	res = c.Get(base + "/html?images=1")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src data: https: http:") {
		t.Fatalf("images csp: %s", csp)
	}
	mustContain(t, "html with images", res.Body, `src="https://tracker.evil.example/pixel.gif"`)
	mustNotContain(t, "html with images", strings.ToLower(res.Body), "<script", "onerror")
	res = c.Get(base + "?images=1")
	mustContain(t, "view with images", res.Body, `src="`+base+`/html?images=1"`, "Remote images are shown")

	// The plain alternative on request.
	res = c.Get(base + "?text=1")
	mustContain(t, "text view", res.Body, "Plain version.", "Show formatted")
}

func TestAttachmentDownload(t *testing.T) {
	e := newEnv(t)
	uid := e.Deliver(t, e.Juliet, "", multipartMessage("<p>hi</p>"))
	c := login(t, e, e.Juliet)
	base := "/mail/INBOX/" + strconv.Itoa(int(uid))
	view := c.Get(base).Body
	links := regexp.MustCompile(regexp.QuoteMeta(base)+`/part/(\d+)" download>([^<]+)<`).FindAllStringSubmatch(view, -1)
	if len(links) != 3 || links[0][2] != "part-3.png" || links[1][2] != "report.pdf" || links[2][2] != "evil.html" {
		t.Fatalf("links: %v", links)
	}
	png := c.Get(base + "/part/" + links[0][1])
	if png.Header.Get("Content-Type") != "image/png" || png.Header.Get("Content-Disposition") != `attachment; filename=part-3.png` {
		t.Fatalf("png: %v", png.Header)
	}
	links = links[1:]
	pdf := c.Get(base + "/part/" + links[0][1])
	if pdf.Header.Get("Content-Type") != "application/pdf" || pdf.Body != "%PDF-1.4\n" ||
		pdf.Header.Get("Content-Disposition") != `attachment; filename=report.pdf` {
		t.Fatalf("pdf: %v %q", pdf.Header, pdf.Body)
	}
	h := c.Get(base + "/part/" + links[1][1])
	if h.Header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(h.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(h.Header.Get("Content-Disposition"), "evil.html") || strings.Contains(h.Header.Get("Content-Disposition"), "..") ||
		!strings.Contains(h.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("html attachment: %v", h.Header)
	}
	mustContain(t, "html attachment", h.Body, "<script>alert(2)</script>")
}

func TestBrokenMIME(t *testing.T) {
	e := newEnv(t)
	msgs := []string{
		// A multipart without its boundary.
		"From: a@example.org\r\nSubject: No boundary\r\nContent-Type: multipart/mixed\r\n\r\nJust some text here.\r\n",
		// An unknown charset and encoding.
		"From: a@example.org\r\nSubject: Odd charset\r\nContent-Type: text/plain; charset=x-klingon\r\nContent-Transfer-Encoding: x-weird\r\n\r\nQapla text.\r\n",
		// A header that never ends and a truncated multipart.
		"From: a@example.org\r\nSubject: Truncated\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nFirst part only",
		// Binary junk.
		"\x00\x01\x02garbage without header\xff\xfe",
	}
	c := login(t, e, e.Juliet)
	for i, m := range msgs {
		uid := e.Deliver(t, e.Juliet, "", m)
		res := c.Get("/mail/INBOX/" + strconv.Itoa(int(uid)))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%d: %d %s", i, res.StatusCode, res.Body)
		}
		want := []string{"Just some text here.", "Qapla text.", "First part only", "garbage without header"}[i]
		mustContain(t, fmt.Sprint("broken ", i), res.Body, want)
	}
}

func TestActions(t *testing.T) {
	e := newEnv(t)
	var uids []string
	for i := range 4 {
		uid := e.Deliver(t, e.Juliet, "", webtest.Message("romeo@capulet.example", e.Juliet.Address, fmt.Sprintf("Msg %d", i), "body"))
		uids = append(uids, strconv.Itoa(int(uid)))
	}
	c := login(t, e, e.Juliet)
	post := func(form url.Values) webtest.Response {
		t.Helper()
		res := c.PostForm("/mail/INBOX/actions", form)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%v: %d %s", form, res.StatusCode, res.Body)
		}
		return res
	}
	res := post(url.Values{"uid": {uids[0], uids[1]}, "action": {"read"}, "back": {"/mail/INBOX/?page=1"}})
	if res.Header.Get("Location") != "/mail/INBOX/?page=1" {
		t.Fatalf("back: %v", res.Header)
	}
	if !has(flags(t, e, e.Juliet, "INBOX", 1), `\Seen`) || !has(flags(t, e, e.Juliet, "INBOX", 2), `\Seen`) || has(flags(t, e, e.Juliet, "INBOX", 3), `\Seen`) {
		t.Fatal("read")
	}
	page := c.Get("/mail/INBOX/")
	mustContain(t, "flash", page.Body, "Marked 2 messages as read.")
	post(url.Values{"uid": {uids[0]}, "action": {"unread"}})
	post(url.Values{"uid": {uids[2]}, "action": {"flag"}})
	if has(flags(t, e, e.Juliet, "INBOX", 1), `\Seen`) || !has(flags(t, e, e.Juliet, "INBOX", 3), `\Flagged`) {
		t.Fatal("unread/flag")
	}
	post(url.Values{"uid": {uids[2]}, "action": {"unflag"}})
	if has(flags(t, e, e.Juliet, "INBOX", 3), `\Flagged`) {
		t.Fatal("unflag")
	}
	// Move two to Archive; from a message's page, back to the list.
	res = post(url.Values{"uid": {uids[0], uids[1]}, "action": {"move"}, "to": {"Archive"}, "back": {"/mail/INBOX/1"}})
	if res.Header.Get("Location") != "/mail/INBOX/" {
		t.Fatalf("after move: %v", res.Header.Get("Location"))
	}
	if n := len(list(t, e, e.Juliet, "Archive")); n != 2 || len(list(t, e, e.Juliet, "INBOX")) != 2 {
		t.Fatalf("move: archive %d", n)
	}
	// Move to a folder that is not there: nothing moves.
	post(url.Values{"uid": {uids[2]}, "action": {"move"}, "to": {"Nope"}})
	// Delete: to Trash, then from Trash for good.
	post(url.Values{"uid": {uids[2]}, "action": {"delete"}})
	trash := list(t, e, e.Juliet, "Trash")
	if len(trash) != 1 || len(list(t, e, e.Juliet, "INBOX")) != 1 {
		t.Fatalf("delete: trash %d", len(trash))
	}
	if res := c.PostForm("/mail/Trash/actions", url.Values{"uid": {strconv.Itoa(int(trash[0].UID))}, "action": {"delete"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete in trash: %d", res.StatusCode)
	}
	if n := len(list(t, e, e.Juliet, "Trash")); n != 0 {
		t.Fatalf("trash after delete: %d", n)
	}
	// Nothing selected, a bad UID, an unknown action.
	res = post(url.Values{"action": {"read"}})
	if page := c.Get("/mail/INBOX/"); !strings.Contains(page.Body, "Select at least one message first.") {
		t.Fatal("no selection flash")
	}
	if res := c.PostForm("/mail/INBOX/actions", url.Values{"uid": {"x"}, "action": {"read"}}); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad uid: %d", res.StatusCode)
	}
	if res := c.PostForm("/mail/INBOX/actions", url.Values{"uid": {uids[3]}, "action": {"explode"}}); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad action: %d", res.StatusCode)
	}
	// An open redirect through back is refused.
	res = post(url.Values{"uid": {uids[3]}, "action": {"read"}, "back": {"https://evil.example/"}})
	if res.Header.Get("Location") != "/mail/INBOX/" {
		t.Fatalf("back elsewhere: %s", res.Header.Get("Location"))
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	uid := e.Deliver(t, e.Juliet, "", webtest.Message("romeo@capulet.example", e.Juliet.Address, "Keep", "body"))
	c := login(t, e, e.Juliet)
	for _, p := range []string{"/mail/INBOX/actions", "/mail/compose"} {
		res := c.PostForm(p, url.Values{"csrf": {"forged"}, "uid": {strconv.Itoa(int(uid))}, "action": {"delete"},
			"to": {e.Romeo.Address}, "subject": {"x"}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s without token: %d", p, res.StatusCode)
		}
	}
	if n := len(list(t, e, e.Juliet, "INBOX")); n != 1 {
		t.Fatal("deleted without a token")
	}
	if len(e.Sent.Msgs) != 0 {
		t.Fatal("sent without a token")
	}
}

func TestAccessControl(t *testing.T) {
	e := newEnv(t)
	secret := e.Deliver(t, e.Romeo, "", multipartMessage("<p>romeo's secret</p>"))
	ctx := context.Background()
	if _, err := e.Store.CreateMailbox(ctx, e.Romeo.ID, "Private", ""); err != nil {
		t.Fatal(err)
	}
	e.Deliver(t, e.Romeo, "Private", webtest.Message("a@example.org", e.Romeo.Address, "Private thing", "secret"))
	c := login(t, e, e.Juliet)
	s := strconv.Itoa(int(secret))
	for _, p := range []string{"/mail/INBOX/" + s, "/mail/INBOX/" + s + "/html", "/mail/INBOX/" + s + "/raw", "/mail/INBOX/" + s + "/part/3",
		"/mail/Private/", "/mail/Private/1", "/mail/compose?reply=INBOX/" + s, "/mail/compose?forward=INBOX/" + s,
		"/mail/compose?replyall=Private/1", "/mail/compose?draft=" + s} {
		if res := c.Get(p); res.StatusCode != http.StatusNotFound || strings.Contains(res.Body, "secret") {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
	}
	// Actions on juliet's INBOX never touch romeo's message of the same UID.
	c.Get("/mail/INBOX/")
	c.PostForm("/mail/INBOX/actions", url.Values{"uid": {s}, "action": {"delete"}})
	c.PostForm("/mail/INBOX/actions", url.Values{"uid": {s}, "action": {"flag"}})
	c.PostForm("/mail/Private/actions", url.Values{"uid": {"1"}, "action": {"delete"}})
	if ms := list(t, e, e.Romeo, "INBOX"); len(ms) != 1 || has(ms[0].Flags, `\Flagged`) {
		t.Fatalf("romeo's inbox changed: %+v", ms)
	}
	if n := len(list(t, e, e.Romeo, "Private")); n != 1 {
		t.Fatal("romeo's Private changed")
	}
	// Forwarding with romeo's message as the source of attachments.
	res := c.PostForm("/mail/compose", url.Values{"to": {e.Juliet.Address}, "subject": {"steal"}, "source": {"Private/1"}, "keep": {"0"},
		"action": {"send"}})
	if res.StatusCode == http.StatusSeeOther {
		if last, _ := e.Sent.Last(); strings.Contains(string(last.Msg), "secret") {
			t.Fatal("romeo's message forwarded")
		}
	}
	// Moving into another user's folder by name is moving into one's own.
	c.PostForm("/mail/INBOX/actions", url.Values{"uid": {s}, "action": {"move"}, "to": {"Private"}})
	if n := len(list(t, e, e.Romeo, "Private")); n != 1 {
		t.Fatal("moved into romeo's Private")
	}
	// Anonymous: to the login page; SSE and posts refused.
	anon := e.NewClient(t)
	if res := anon.Get("/mail/INBOX/" + s); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("anonymous: %d", res.StatusCode)
	}
}

// parseSent reads a submitted message's header.
func parseSent(t *testing.T, msg []byte) mail.Header {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	return r.Header
}

func TestComposeSend(t *testing.T) {
	e := newEnv(t)
	c := login(t, e, e.Juliet)
	res := c.Get("/mail/compose")
	mustContain(t, "compose", res.Body, `<label for="to">To</label>`, `list="contact-options"`, `<datalist id="contact-options">`,
		`enctype="multipart/form-data"`, `value="send">Send</button>`, `value="draft" class="secondary">Save draft</button>`,
		`<label for="attachment">Attach files</label>`)

	// Invalid address: the form again, with the input kept.
	res = c.PostForm("/mail/compose", url.Values{"to": {"romeo@capulet.example, not an address"}, "subject": {"Kept subject"},
		"body": {"Kept body"}, "action": {"send"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("invalid: %d", res.StatusCode)
	}
	mustContain(t, "invalid", res.Body, "Please correct the addresses.", "&#34;not an address&#34; is not a valid address", `value="Kept subject"`,
		"Kept body", `value="romeo@capulet.example, not an address"`)
	if res := c.PostForm("/mail/compose", url.Values{"subject": {"x"}, "action": {"send"}}); !strings.Contains(res.Body, "Add at least one recipient") {
		t.Fatal("no recipient accepted")
	}
	if len(e.Sent.Msgs) != 0 {
		t.Fatal("sent an invalid message")
	}

	// Send with an attachment to romeo, Cc a remote address, Bcc admin.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"csrf": c.CSRF, "to": "Romeo <romeo@capulet.example>", "cc": "friar@laurence.example",
		"bcc": e.Admin.Address, "subject": "Meet me \u00e0 minuit\r\nBcc: injected@evil.example", "body": "Line one\nLine two", "action": "send"} {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("attachment", "notes.txt")
	io.WriteString(fw, "attached text")
	mw.Close()
	res = c.Post("/mail/compose", mw.FormDataContentType(), &body)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/mail/INBOX/" {
		t.Fatalf("send: %d %s", res.StatusCode, res.Body)
	}
	sent, ok := e.Sent.Last()
	if !ok {
		t.Fatal("nothing submitted")
	}
	if sent.From != e.Juliet.Address || strings.Join(sent.Rcpts, ",") != "romeo@capulet.example,friar@laurence.example,admin@capulet.example" {
		t.Fatalf("envelope: %s %v", sent.From, sent.Rcpts)
	}
	h := parseSent(t, sent.Msg)
	from, _ := h.AddressList("From")
	subj, _ := h.Subject()
	if len(from) != 1 || from[0].Address != e.Juliet.Address || from[0].Name != "Juliet" || h.Has("Bcc") ||
		subj != "Meet me \u00e0 minuit Bcc: injected@evil.example" || !strings.HasSuffix(h.Get("Message-Id"), "@mail.capulet.example>") ||
		h.Get("Date") == "" {
		t.Fatalf("header: %s", sent.Msg)
	}
	raw := string(sent.Msg)
	mustContain(t, "sent message", raw, "multipart/mixed", "notes.txt", "Line one\r\nLine two")
	mustNotContain(t, "sent message", raw, "\nBcc:", e.Admin.Address)
	// Delivered to romeo; the copy in juliet's Sent is read, with the Bcc.
	if ms := list(t, e, e.Romeo, "INBOX"); len(ms) != 1 || ms[0].Subject != subj {
		t.Fatalf("romeo's inbox: %+v", ms)
	}
	sentBox := list(t, e, e.Juliet, "Sent")
	if len(sentBox) != 1 || !has(sentBox[0].Flags, `\Seen`) || len(sentBox[0].Envelope.Bcc) != 1 {
		t.Fatalf("Sent: %+v", sentBox)
	}
	page := c.Get("/mail/INBOX/")
	mustContain(t, "after send", page.Body, "Message sent.")
	page = c.Get("/mail/Sent/")
	mustContain(t, "Sent list", page.Body, `<td class="col-from" title="Romeo &lt;romeo@capulet.example&gt;">Romeo</td>`, `>To</a></th>`)

	// Submitter errors are shown with the form.
	e2 := webtest.New(t, webtest.Options{Mount: []func(*web.App) error{mailui.Mount}, Deps: func(d *web.Deps) { d.Submitter = failing{} }})
	c2 := login(t, e2, e2.Juliet)
	res = c2.PostForm("/mail/compose", url.Values{"to": {"x@remote.example"}, "subject": {"Refused"}, "action": {"send"}})
	mustContain(t, "refused", res.Body, "The message was not sent: 550 relaying denied", `value="Refused"`)
	if n := len(list(t, e2, e2.Juliet, "Sent")); n != 0 {
		t.Fatal("refused message filed in Sent")
	}
}

type failing struct{}

func (failing) Submit(context.Context, accounts.User, []string, []byte) error {
	return fmt.Errorf("550 relaying denied")
}

func TestSizeLimit(t *testing.T) {
	cfg := web.DefaultConfig()
	cfg.MaxUpload = 1 << 20
	e := webtest.New(t, webtest.Options{Config: &cfg, Mount: []func(*web.App) error{mailui.Mount}, Deps: func(d *web.Deps) { d.MaxMessageSize = 2000 }})
	c := login(t, e, e.Juliet)
	// A request larger than max_upload is cut off.
	var big bytes.Buffer
	bw := multipart.NewWriter(&big)
	bw.WriteField("to", e.Romeo.Address)
	bw.WriteField("action", "send")
	bf, _ := bw.CreateFormFile("attachment", "huge.bin")
	bf.Write(make([]byte, 3<<20))
	bw.Close()
	if res := c.Post("/mail/compose", bw.FormDataContentType(), &big); res.StatusCode != http.StatusRequestEntityTooLarge ||
		!strings.Contains(res.Body, "larger than the 1.0 MiB the server accepts") {
		t.Fatalf("over max_upload: %d %s", res.StatusCode, res.Body)
	}
	res := c.PostForm("/mail/compose", url.Values{"to": {e.Romeo.Address}, "body": {strings.Repeat("long text ", 300)}, "action": {"send"}})
	mustContain(t, "too big", res.Body, "more than the 2.0 KiB a message may be")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("to", e.Romeo.Address)
	mw.WriteField("action", "send")
	fw, _ := mw.CreateFormFile("attachment", "big.bin")
	fw.Write(make([]byte, 5000))
	mw.Close()
	res = c.Post("/mail/compose", mw.FormDataContentType(), &body)
	mustContain(t, "attachment too big", res.Body, "The attachments are larger than the 2.0 KiB")
	if len(e.Sent.Msgs) != 0 {
		t.Fatal("sent too big a message")
	}
}

func TestReplyForward(t *testing.T) {
	e := newEnv(t)
	orig := "From: Romeo <romeo@capulet.example>\r\nTo: juliet@capulet.example, Nurse <nurse@capulet.example>\r\nCc: mercutio@verona.example\r\n" +
		"Subject: Balcony\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <balcony@capulet.example>\r\n" +
		"References: <first@capulet.example>\r\n\r\nBut soft!\r\nWhat light?\r\n"
	uid := e.Deliver(t, e.Juliet, "", orig)
	ref := "INBOX/" + strconv.Itoa(int(uid))
	c := login(t, e, e.Juliet)
	res := c.Get("/mail/compose?reply=" + ref)
	mustContain(t, "reply form", res.Body, `value="Romeo &lt;romeo@capulet.example&gt;"`, `value="Re: Balcony"`, "&gt; But soft!\n&gt; What light?",
		`name="in_reply_to" value="&lt;balcony@capulet.example&gt;"`, `value="&lt;first@capulet.example&gt; &lt;balcony@capulet.example&gt;"`,
		"Romeo &lt;romeo@capulet.example&gt; wrote:")
	res = c.Get("/mail/compose?replyall=" + ref)
	mustContain(t, "reply-all form", res.Body, `value="Romeo &lt;romeo@capulet.example&gt;, Nurse &lt;nurse@capulet.example&gt;"`,
		`id="cc" name="cc" type="text" value="mercutio@verona.example"`)
	mustNotContain(t, "reply-all form", res.Body, `juliet@capulet.example,`, `, juliet@capulet.example"`)

	// Send the reply: In-Reply-To and References, and the original is \Answered.
	res = c.PostForm("/mail/compose", url.Values{"to": {"romeo@capulet.example"}, "subject": {"Re: Balcony"}, "body": {"It is my lady."},
		"in_reply_to": {"<balcony@capulet.example>\r\nX-Evil: 1"}, "references": {"<first@capulet.example> <balcony@capulet.example>"},
		"reply": {ref}, "action": {"send"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d %s", res.StatusCode, res.Body)
	}
	sent, _ := e.Sent.Last()
	h := parseSent(t, sent.Msg)
	if h.Get("In-Reply-To") != "<balcony@capulet.example>" || h.Get("References") != "<first@capulet.example> <balcony@capulet.example>" || h.Has("X-Evil") {
		t.Fatalf("reply header: %v", h.Header)
	}
	if !has(flags(t, e, e.Juliet, "INBOX", uid), `\Answered`) {
		t.Fatal("original not answered")
	}

	// Forward with the original's attachments.
	fuid := e.Deliver(t, e.Juliet, "", multipartMessage("<p>see attached</p>"))
	fref := "INBOX/" + strconv.Itoa(int(fuid))
	res = c.Get("/mail/compose?forward=" + fref)
	mustContain(t, "forward form", res.Body, `value="Fwd: Hostile"`, "---------- Forwarded message ----------", "From: Mallory &lt;mallory@evil.example&gt;",
		"Plain version.", `name="source" value="`+fref+`"`, "report.pdf", "evil.html", `name="keep"`)
	keeps := regexp.MustCompile(`name="keep" value="(\d+)" checked`).FindAllStringSubmatch(res.Body, -1)
	if len(keeps) != 2 {
		t.Fatalf("keep boxes: %v", keeps)
	}
	res = c.PostForm("/mail/compose", url.Values{"to": {"romeo@capulet.example"}, "subject": {"Fwd: Hostile"}, "body": {"FYI"},
		"source": {fref}, "forward": {fref}, "keep": {keeps[0][1]}, "action": {"send"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("forward: %d %s", res.StatusCode, res.Body)
	}
	sent, _ = e.Sent.Last()
	mustContain(t, "forwarded", string(sent.Msg), `filename=report.pdf`, "JVBERi0xLjQK")
	mustNotContain(t, "forwarded", string(sent.Msg), "evil.html")
	if !has(flags(t, e, e.Juliet, "INBOX", fuid), `$Forwarded`) {
		t.Fatal("original not $Forwarded")
	}
}

func TestDrafts(t *testing.T) {
	e := newEnv(t)
	c := login(t, e, e.Juliet)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"csrf": c.CSRF, "to": "romeo@capulet.example", "bcc": "nurse@capulet.example",
		"subject": "Half written", "body": "Dear Romeo,", "action": "draft"} {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("attachment", "poem.txt")
	io.WriteString(fw, "roses")
	mw.Close()
	res := c.Post("/mail/compose", mw.FormDataContentType(), &body)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/mail/compose?draft=") {
		t.Fatalf("save draft: %d %v %s", res.StatusCode, res.Header, res.Body)
	}
	drafts := list(t, e, e.Juliet, "Drafts")
	if len(drafts) != 1 || !has(drafts[0].Flags, `\Draft`) || drafts[0].Subject != "Half written" {
		t.Fatalf("drafts: %+v", drafts)
	}
	if len(e.Sent.Msgs) != 0 {
		t.Fatal("a draft was sent")
	}
	res = c.Get(res.Header.Get("Location"))
	mustContain(t, "draft form", res.Body, "Draft saved.", "Edit draft", `value="romeo@capulet.example"`, `value="nurse@capulet.example"`,
		`value="Half written"`, "Dear Romeo,", "poem.txt", `name="draft" value="1"`, `name="source" value="Drafts/1"`)
	// The draft's view offers editing it.
	mustContain(t, "draft view", c.Get("/mail/Drafts/1").Body, `href="/mail/compose?draft=1"`)
	// Saving again replaces it; sending removes it.
	res = c.PostForm("/mail/compose", url.Values{"to": {"romeo@capulet.example"}, "subject": {"Whole"}, "body": {"Dear Romeo, come."},
		"draft": {"1"}, "source": {"Drafts/1"}, "keep": {"1"}, "action": {"draft"}})
	drafts = list(t, e, e.Juliet, "Drafts")
	if res.StatusCode != http.StatusSeeOther || len(drafts) != 1 || drafts[0].UID != 2 || drafts[0].Subject != "Whole" {
		t.Fatalf("resave: %d %+v", res.StatusCode, drafts)
	}
	res = c.PostForm("/mail/compose", url.Values{"to": {"romeo@capulet.example"}, "subject": {"Whole"}, "body": {"Dear Romeo, come."},
		"draft": {"2"}, "source": {"Drafts/2"}, "keep": {"1"}, "action": {"send"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("send draft: %d %s", res.StatusCode, res.Body)
	}
	if n := len(list(t, e, e.Juliet, "Drafts")); n != 0 {
		t.Fatalf("draft kept after sending: %d", n)
	}
	sent, _ := e.Sent.Last()
	mustContain(t, "sent draft", string(sent.Msg), "poem.txt", "cm9zZXM=") // roses
}

// readEvent reads the stream until an event of kind arrives.
func readEvent(t *testing.T, r *bufio.Reader, kind string) string {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		if line == "event: "+kind+"\n" {
			data, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimPrefix(strings.TrimSpace(data), "data: ")
		}
	}
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	c := login(t, e, e.Juliet)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.Server.URL+"/mail/events", nil)
	res, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %v", res.StatusCode, res.Header)
	}
	r := bufio.NewReader(res.Body)
	if line, _ := r.ReadString('\n'); line != "retry: 5000\n" {
		t.Fatalf("first line %q", line)
	}
	// Romeo's mail is not juliet's business; hers is.
	e.Deliver(t, e.Romeo, "", webtest.Message("a@example.org", e.Romeo.Address, "For romeo", "x"))
	uid := e.Deliver(t, e.Juliet, "", webtest.Message("a@example.org", e.Juliet.Address, "For juliet", "x"))
	if got := readEvent(t, r, "mail"); got != fmt.Sprintf(`{"kind":"added","mailbox":"INBOX","uids":[%d]}`, uid) {
		t.Fatalf("event: %s", got)
	}
	if _, _, err := e.Store.StoreFlags(ctx, mailbox(t, e, e.Juliet, "INBOX").ID, []store.UIDRange{{Start: uid, Stop: uid}}, store.FlagsAdd,
		[]string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	if got := readEvent(t, r, "mail"); !strings.HasPrefix(got, `{"kind":"flags","mailbox":"INBOX"`) {
		t.Fatalf("flags event: %s", got)
	}
	// An overflow (more than the buffer at once) tells the page to reload.
	// One delivery to 300 targets publishes 300 changes back to back.
	targets := make([]store.Target, 300)
	for i := range targets {
		targets[i] = store.Target{User: e.Juliet}
	}
	if _, err := e.Store.Deliver(ctx, strings.NewReader(webtest.Message("a@example.org", e.Juliet.Address, "Burst", "x")), store.DeliverOptions{}, targets); err != nil {
		t.Fatal(err)
	}
	readEvent(t, r, "reload")
	// The page links the script that listens.
	mustContain(t, "list page", c.Get("/mail/INBOX/").Body, `<script src="/static/mail.js" defer></script>`, `id="mail-live"`,
		`<div id="message-list" data-mailbox="INBOX" data-refresh="/mail/INBOX/">`)
}
