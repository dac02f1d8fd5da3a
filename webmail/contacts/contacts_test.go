package contacts_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations/dbtest"
	"github.com/tidings/tidings/webmail/contacts"
	"github.com/tidings/tidings/webmail/web"
	"github.com/tidings/tidings/webmail/web/webtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func newEnv(t *testing.T) *webtest.Env {
	return webtest.New(t, webtest.Options{Mount: []func(*web.App) error{contacts.Mount}})
}

// login signs in and loads the contact list, which has the CSRF token.
func login(t *testing.T, e *webtest.Env, u accounts.User) *webtest.Client {
	c := e.Login(t, u.Address)
	if res := c.Get("/contacts/"); res.StatusCode != http.StatusOK || c.CSRF == "" {
		t.Fatalf("contact list: %d", res.StatusCode)
	}
	return c
}

func book(t *testing.T, e *webtest.Env, u accounts.User) []accounts.Contact {
	t.Helper()
	cs, err := e.Accounts.Contacts(context.Background(), u.Address)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func mustStatus(t *testing.T, what string, res webtest.Response, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s: %d, want %d\n%s", what, res.StatusCode, status, res.Body)
	}
}

func TestContactsCRUD(t *testing.T) {
	e := newEnv(t)
	c := login(t, e, e.Juliet)

	res := c.Get("/contacts/new")
	mustStatus(t, "new form", res, http.StatusOK)
	for _, l := range []string{">Name</label>", ">Email</label>", ">Jabber ID</label>", ">Note</label>", ">Add contact</button>"} {
		if !strings.Contains(res.Body, l) {
			t.Errorf("form lacks %s", l)
		}
	}

	// Invalid input: the form comes back with the error and what was typed.
	res = c.PostForm("/contacts/", url.Values{"name": {"Tybalt"}, "email": {"tybalt at capulet"}, "jid": {"tybalt@capulet.example/home"}, "note": {"cat"}})
	mustStatus(t, "invalid", res, http.StatusUnprocessableEntity)
	for _, want := range []string{"This is not an email address", "without a /resource", `value="tybalt at capulet"`, `value="Tybalt"`, ">cat</textarea>", `aria-invalid="true"`} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("invalid form lacks %q", want)
		}
	}
	res = c.PostForm("/contacts/", url.Values{"name": {" "}})
	if mustStatus(t, "empty", res, http.StatusUnprocessableEntity); !strings.Contains(res.Body, "Give at least a name") {
		t.Error("empty contact: no message")
	}
	res = c.PostForm("/contacts/", url.Values{"email": {"x@[127.0.0.1]"}})
	if mustStatus(t, "IP domain", res, http.StatusUnprocessableEntity); !strings.Contains(res.Body, "This email address is not valid") {
		t.Errorf("accounts' refusal not shown on the field: %s", res.Body)
	}
	if n := len(book(t, e, e.Juliet)); n != 0 {
		t.Fatalf("invalid contacts stored: %d", n)
	}

	// Create; a pasted "Name <address>" fills the name.
	res = c.PostForm("/contacts/", url.Values{"email": {"Tybalt <Tybalt@Capulet.Example>"}, "jid": {"Tybalt@Capulet.Example"}, "note": {"Prince of cats"}})
	mustStatus(t, "create", res, http.StatusSeeOther)
	cs := book(t, e, e.Juliet)
	if len(cs) != 1 || cs[0].Name != "Tybalt" || cs[0].Email != "Tybalt@capulet.example" || cs[0].JID != "tybalt@capulet.example" || cs[0].Note != "Prince of cats" {
		t.Fatalf("created: %+v", cs)
	}
	id := cs[0].ID
	res = c.Get("/contacts/")
	if !strings.Contains(res.Body, "Added Tybalt to your contacts.") || !strings.Contains(res.Body, fmt.Sprintf(`href="/contacts/%d"`, id)) {
		t.Errorf("list after create: %s", res.Body)
	}

	// Search.
	c.PostForm("/contacts/", url.Values{"name": {"Nurse"}, "email": {"nurse@capulet.example"}})
	c.Get("/contacts/") // shows the flash
	res = c.Get("/contacts/?q=PRINCE")
	if !strings.Contains(res.Body, "Tybalt") || strings.Contains(res.Body, "Nurse") || !strings.Contains(res.Body, "1 of 2 contacts match") {
		t.Errorf("search: %s", res.Body)
	}
	req, _ := http.NewRequest(http.MethodGet, e.Server.URL+"/contacts/?q=nurse", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Target", "contact-list")
	if res := c.Do(req); strings.Contains(res.Body, "<html") || !strings.Contains(res.Body, "Nurse") || strings.Contains(res.Body, "Tybalt") {
		t.Errorf("htmx search fragment: %s", res.Body)
	}

	// Edit and update.
	res = c.Get(fmt.Sprintf("/contacts/%d", id))
	if mustStatus(t, "edit", res, http.StatusOK); !strings.Contains(res.Body, `value="Tybalt"`) || !strings.Contains(res.Body, "Save changes") {
		t.Errorf("edit form: %s", res.Body)
	}
	res = c.PostForm(fmt.Sprintf("/contacts/%d", id), url.Values{"name": {"Tybalt Capulet"}, "email": {"tybalt@capulet.example"}, "jid": {"bad jid"}})
	if mustStatus(t, "bad update", res, http.StatusUnprocessableEntity); !strings.Contains(res.Body, `value="Tybalt Capulet"`) {
		t.Error("update error lost the input")
	}
	res = c.PostForm(fmt.Sprintf("/contacts/%d", id), url.Values{"name": {"Tybalt Capulet"}, "email": {"tybalt@capulet.example"}, "note": {"line 1\r\nline 2"}})
	mustStatus(t, "update", res, http.StatusSeeOther)
	ct, err := e.Accounts.Contact(context.Background(), e.Juliet.Address, id)
	if err != nil || ct.Name != "Tybalt Capulet" || ct.JID != "" || ct.Note != "line 1\nline 2" {
		t.Fatalf("updated: %+v %v", ct, err)
	}

	// Delete.
	mustStatus(t, "delete", c.PostForm(fmt.Sprintf("/contacts/%d/delete", id), nil), http.StatusSeeOther)
	if _, err := e.Accounts.Contact(context.Background(), e.Juliet.Address, id); err == nil {
		t.Fatal("not deleted")
	}
	mustStatus(t, "deleted", c.Get(fmt.Sprintf("/contacts/%d", id)), http.StatusNotFound)
	mustStatus(t, "not an id", c.Get("/contacts/x1"), http.StatusNotFound)
	if res := c.Get("/contacts"); res.Header.Get("Location") != "/contacts/" {
		t.Errorf("/contacts: %d %v", res.StatusCode, res.Header)
	}
}

// Romeo cannot read, change or delete Juliet's contact by its id, and the
// answer is the same as for a contact that does not exist.
func TestContactsAccess(t *testing.T) {
	e := newEnv(t)
	ct, err := e.Accounts.AddContact(context.Background(), e.Juliet.Address, accounts.Contact{Name: "Tybalt", Email: "tybalt@capulet.example"})
	if err != nil {
		t.Fatal(err)
	}
	r := login(t, e, e.Romeo)
	p := fmt.Sprintf("/contacts/%d", ct.ID)
	mustStatus(t, "read", r.Get(p), http.StatusNotFound)
	mustStatus(t, "update", r.PostForm(p, url.Values{"name": {"Mercutio was here"}}), http.StatusNotFound)
	mustStatus(t, "invalid update", r.PostForm(p, url.Values{"email": {"nonsense"}}), http.StatusNotFound)
	mustStatus(t, "delete", r.PostForm(p+"/delete", nil), http.StatusNotFound)
	mustStatus(t, "missing", r.Get("/contacts/999999"), http.StatusNotFound)
	if res := r.Get("/contacts/"); strings.Contains(res.Body, "Tybalt") {
		t.Error("romeo lists juliet's contact")
	}
	if got, err := e.Accounts.Contact(context.Background(), e.Juliet.Address, ct.ID); err != nil || got.Name != "Tybalt" {
		t.Fatalf("juliet's contact changed: %+v %v", got, err)
	}

	// CSRF: a post without the token changes nothing.
	j := login(t, e, e.Juliet)
	mustStatus(t, "no token", j.PostForm(p+"/delete", url.Values{"csrf": {""}}), http.StatusForbidden)
	mustStatus(t, "foreign token", j.PostForm("/contacts/", url.Values{"csrf": {r.CSRF}, "name": {"Paris"}}), http.StatusForbidden)
	if cs := book(t, e, e.Juliet); len(cs) != 1 {
		t.Fatalf("changed without CSRF token: %+v", cs)
	}
	// Anonymous: sent to the login page, or 401.
	anon := e.NewClient(t)
	mustStatus(t, "anonymous list", anon.Get("/contacts/"), http.StatusSeeOther)
	mustStatus(t, "anonymous export", anon.Get("/contacts/export.vcf"), http.StatusSeeOther)
}

// upload posts a vCard file as the import form does.
func upload(t *testing.T, c *webtest.Client, data string) webtest.Response {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("file", "contacts.vcf")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(data))
	mw.Close()
	return c.Post("/contacts/import", mw.FormDataContentType(), &b)
}

func TestVCardExportImport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, ct := range []accounts.Contact{
		{Name: "Tybalt", Email: "tybalt@capulet.example", JID: "tybalt@capulet.example", Note: "Prince of cats; quick, proud\nand angry"},
		{Email: "nameless@verona.example"},
		{Name: "Frère Laurent", JID: "friar@verona.example"},
		{Name: strings.Repeat("Long name ", 20)[:199]},
	} {
		if _, err := e.Accounts.AddContact(ctx, e.Juliet.Address, ct); err != nil {
			t.Fatal(err)
		}
	}
	j := login(t, e, e.Juliet)
	res := j.Get("/contacts/export.vcf")
	mustStatus(t, "export", res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "text/vcard; charset=utf-8" || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") {
		t.Errorf("export headers: %v", res.Header)
	}
	if strings.Count(res.Body, "BEGIN:VCARD\r\nVERSION:4.0\r\n") != 4 || !strings.Contains(res.Body, "IMPP:xmpp:friar@verona.example\r\n") {
		t.Errorf("export:\n%s", res.Body)
	}

	// Into Romeo's empty book: the same contacts.
	r := login(t, e, e.Romeo)
	imp := upload(t, r, res.Body)
	if mustStatus(t, "import", imp, http.StatusOK); !strings.Contains(imp.Body, "Imported 4 contacts, skipped 0 cards.") {
		t.Errorf("import report: %s", imp.Body)
	}
	strip := func(cs []accounts.Contact) []accounts.Contact {
		out := make([]accounts.Contact, len(cs))
		for i, c := range cs {
			out[i] = accounts.Contact{Name: c.Name, Email: c.Email, JID: c.JID, Note: c.Note}
		}
		return out
	}
	jb, rb := strip(book(t, e, e.Juliet)), strip(book(t, e, e.Romeo))
	if fmt.Sprint(jb) != fmt.Sprint(rb) {
		t.Errorf("round trip:\njuliet %+v\nromeo  %+v", jb, rb)
	}
	// Again: all are there already.
	imp = upload(t, r, res.Body)
	if !strings.Contains(imp.Body, "Imported 0 contacts, skipped 4 cards.") || !strings.Contains(imp.Body, "already in your contacts") {
		t.Errorf("re-import: %s", imp.Body)
	}
	if n := len(book(t, e, e.Romeo)); n != 4 {
		t.Errorf("re-import duplicated: %d contacts", n)
	}
}

func TestVCard30Import(t *testing.T) {
	e := newEnv(t)
	c := login(t, e, e.Juliet)
	data := "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Montague;Romeo;;;\r\nFN:Romeo Montague\r\n" +
		"EMAIL;TYPE=INTERNET:romeo@montague.ex\r\n ample\r\n" +
		"IMPP;X-SERVICE-TYPE=Jabber:xmpp:romeo@montague.example\r\n" +
		"NOTE:Met at the feast\\, fell at once.\\nBanished to Mantua.\r\nEND:VCARD\r\n" +
		"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Mercutio\r\nEMAIL:mercutio at verona\r\nEND:VCARD\r\n" +
		"BEGIN:VCARD\r\nVERSION:3.0\r\nORG:Nobody\r\nEND:VCARD\r\n"
	res := upload(t, c, data)
	mustStatus(t, "import", res, http.StatusOK)
	for _, want := range []string{"Imported 1 contact, skipped 2 cards.", "Mercutio", "This is not an email address", "Give at least a name"} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("report lacks %q:\n%s", want, res.Body)
		}
	}
	cs := book(t, e, e.Juliet)
	if len(cs) != 1 || cs[0].Name != "Romeo Montague" || cs[0].Email != "romeo@montague.example" || cs[0].JID != "romeo@montague.example" ||
		cs[0].Note != "Met at the feast, fell at once.\nBanished to Mantua." {
		t.Fatalf("imported: %+v", cs)
	}
	res = upload(t, c, "this is not a vCard")
	if mustStatus(t, "garbage", res, http.StatusBadRequest); !strings.Contains(res.Body, "Nothing was imported: the file holds no vCard") {
		t.Errorf("garbage: %s", res.Body)
	}
	// Bounded by max_upload (1 MiB here).
	cfg := web.DefaultConfig()
	cfg.MaxUpload = 1 << 20
	small := webtest.New(t, webtest.Options{Mount: []func(*web.App) error{contacts.Mount}, Config: &cfg})
	sc := login(t, small, small.Juliet)
	res = upload(t, sc, "BEGIN:VCARD\r\nNOTE:"+strings.Repeat("x", 1<<20)+"\r\nEND:VCARD\r\n")
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.Body, "larger than 1.0 MiB") {
		t.Errorf("oversized upload: %d %s", res.StatusCode, res.Body)
	}
}

func TestComplete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, ct := range []accounts.Contact{
		{Name: "Tybalt", Email: "tybalt@capulet.example"},
		{Name: "Lady <Capulet>", Email: "lady@capulet.example"},
		{Name: "Nurse", Email: "nurse@capulet.example"},
		{Name: "Chatty", JID: "chatty@capulet.example"}, // no email: never offered
	} {
		if _, err := e.Accounts.AddContact(ctx, e.Juliet.Address, ct); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 25; i++ {
		if _, err := e.Accounts.AddContact(ctx, e.Juliet.Address, accounts.Contact{Email: fmt.Sprintf("guest%02d@verona.example", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Accounts.AddContact(ctx, e.Romeo.Address, accounts.Contact{Name: "Tyrone", Email: "tyrone@montague.example"}); err != nil {
		t.Fatal(err)
	}
	j := login(t, e, e.Juliet)
	res := j.Get("/contacts/complete?q=TY")
	if res.Body != `<option value="tybalt@capulet.example">Tybalt &lt;tybalt@capulet.example&gt;</option>`+"\n" {
		t.Errorf("complete ty: %q", res.Body)
	}
	if res := j.Get("/contacts/complete?q=" + url.QueryEscape("nurse@capulet.example, capu")); !strings.Contains(res.Body, "Lady &lt;Capulet&gt; &lt;lady@capulet.example&gt;") ||
		!strings.Contains(res.Body, `value="nurse@capulet.example"`) || strings.Contains(res.Body, "chatty") {
		t.Errorf("complete after comma: %q", res.Body)
	}
	if res := j.Get("/contacts/complete?to=verona"); strings.Count(res.Body, "<option") != 20 {
		t.Errorf("complete caps at 20: %d", strings.Count(res.Body, "<option"))
	}
	if res := j.Get("/contacts/complete?q=tyrone"); strings.Contains(res.Body, "option") {
		t.Errorf("juliet sees romeo's contact: %q", res.Body)
	}
	if res := j.Get("/contacts/complete?q="); res.StatusCode != http.StatusOK || strings.Contains(res.Body, "option") {
		t.Errorf("empty term: %q", res.Body)
	}
}

func TestAddSender(t *testing.T) {
	e := newEnv(t)
	c := login(t, e, e.Juliet)
	add := func(email, name, back string) webtest.Response {
		return c.PostForm("/contacts/add-sender", url.Values{"email": {email}, "name": {name}, "back": {back}})
	}
	res := add("tybalt@capulet.example", "Tybalt", "/mail/INBOX/7?x=1")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/mail/INBOX/7?x=1" {
		t.Fatalf("add sender: %d %v", res.StatusCode, res.Header)
	}
	if cs := book(t, e, e.Juliet); len(cs) != 1 || cs[0].Name != "Tybalt" || cs[0].Email != "tybalt@capulet.example" {
		t.Fatalf("added: %+v", cs)
	}
	if res := c.Get("/contacts/"); !strings.Contains(res.Body, "Added Tybalt to your contacts.") {
		t.Error("no flash after adding")
	}
	add("TYBALT@capulet.example", "Someone else", "/mail/")
	if res := c.Get("/contacts/"); !strings.Contains(res.Body, "Tybalt is already in your contacts.") {
		t.Errorf("no dedupe message: %s", res.Body)
	}
	if cs := book(t, e, e.Juliet); len(cs) != 1 {
		t.Fatalf("duplicate added: %+v", cs)
	}
	// Only local return addresses.
	for _, back := range []string{"//evil.example/x", "https://evil.example/", `/\evil.example`, "javascript:alert(1)", "mail/", "/ok\r\nSet-Cookie: x=y"} {
		if loc := add("nurse@capulet.example", "", back).Header.Get("Location"); loc != "/contacts/" {
			t.Errorf("back=%q: redirected to %q", back, loc)
		}
	}
	if res := add("not an address", "", "/mail/"); res.Header.Get("Location") != "/mail/" {
		t.Errorf("bad address: %v", res.Header)
	}
	if res := c.Get("/contacts/"); !strings.Contains(res.Body, "could not be added") {
		t.Error("bad address: no message")
	}
	mustStatus(t, "no token", c.PostForm("/contacts/add-sender", url.Values{"csrf": {"x"}, "email": {"paris@verona.example"}}), http.StatusForbidden)
	if cs := book(t, e, e.Juliet); len(cs) != 2 {
		t.Fatalf("contacts: %+v", cs)
	}
}
