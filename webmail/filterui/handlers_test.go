package filterui_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/webmail/filterui"
	"github.com/tidings/tidings/webmail/web"
	"github.com/tidings/tidings/webmail/web/webtest"
)

func newEnv(t *testing.T) *webtest.Env {
	return webtest.New(t, webtest.Options{Mount: []func(*web.App) error{filterui.Mount}})
}

// rev is the revision the forms of the rule list carry.
func rev(t *testing.T, c *webtest.Client) string {
	t.Helper()
	res := c.Get("/filters/")
	const marker = `name="rev" value="`
	if i := strings.Index(res.Body, marker); i >= 0 {
		s := res.Body[i+len(marker):]
		return s[:strings.IndexByte(s, '"')]
	}
	res = c.Get("/filters/rules/new")
	i := strings.Index(res.Body, marker)
	if i < 0 {
		t.Fatalf("no revision in the form: %s", res.Body)
	}
	s := res.Body[i+len(marker):]
	return s[:strings.IndexByte(s, '"')]
}

func script(t *testing.T, e *webtest.Env, u accounts.User, name string) string {
	t.Helper()
	src, err := e.Filter.Scripts().Get(context.Background(), u.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func active(t *testing.T, e *webtest.Env, u accounts.User) string {
	t.Helper()
	l, err := e.Filter.Scripts().List(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range l {
		if s.Active {
			return s.Name
		}
	}
	return ""
}

func wantStatus(t *testing.T, res webtest.Response, status int, contains ...string) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", res.StatusCode, status, res.Body)
	}
	for _, s := range contains {
		if !strings.Contains(res.Body, s) {
			t.Fatalf("response lacks %q:\n%s", s, res.Body)
		}
	}
}

// TestContactsNotifyScenario is the browser scenario's rule: "notify me
// over XMPP for mail from my contacts", created through the form, stored,
// activated, and evaluated by the filter for a contact's mail.
func TestContactsNotifyScenario(t *testing.T) {
	e := newEnv(t)
	c := e.Login(t, e.Juliet.Address)
	ctx := context.Background()

	res := c.Get("/filters/")
	wantStatus(t, res, 200, "No rules yet", `href="/filters/rules/new"`, `href="/filters/raw"`, `href="/filters/vacation"`)
	res = c.Get("/filters/rules/new")
	wantStatus(t, res, 200, `<label for="rule-name">Rule name</label>`, "Sender is in my contacts", "Notify me over XMPP",
		`<span class="visually-hidden">Condition 1 </span>Field`, `Action<span class="visually-hidden"> 1</span>`,
		"Add condition", "Add action", "Save rule", `<option value="INBOX">INBOX</option>`)
	if strings.Contains(res.Body, "c2f") {
		t.Fatal("more than two condition rows on a new rule")
	}

	// "Add condition" re-renders with one more row and keeps the input.
	res = c.PostForm("/filters/rules", url.Values{"rev": {rev(t, c)}, "nc": {"2"}, "na": {"2"}, "name": {"Contacts"},
		"c0f": {"contacts"}, "op": {"add-condition"}})
	wantStatus(t, res, 200, `id="c2f"`, `value="Contacts"`, `<option value="contacts" selected>`)
	if l, _ := e.Filter.Scripts().List(ctx, e.Juliet.ID); len(l) != 0 {
		t.Fatal("Add condition stored something")
	}
	res = c.PostForm("/filters/rules", url.Values{"rev": {rev(t, c)}, "nc": {"2"}, "na": {"2"}, "op": {"add-action"}})
	wantStatus(t, res, 200, `id="a2k"`)

	res = c.PostForm("/filters/rules", url.Values{"rev": {rev(t, c)}, "nc": {"3"}, "na": {"2"}, "name": {"Notify me for my contacts"},
		"enabled": {"on"}, "match": {"all"}, "c0f": {"contacts"}, "c0o": {"contains"}, "c1f": {""}, "c1o": {"contains"},
		"a0k": {"notify"}, "a0f": {"INBOX"}, "a1k": {""}, "a1f": {"INBOX"}, "op": {"save"}})
	wantStatus(t, res, http.StatusSeeOther)
	want, err := os.ReadFile(filepath.Join("testdata", "contacts_notify.sieve"))
	if err != nil {
		t.Fatal(err)
	}
	if got := script(t, e, e.Juliet, filterui.ScriptName); got != string(want) {
		t.Fatalf("stored script:\n%s\nwant:\n%s", got, want)
	}
	if a := active(t, e, e.Juliet); a != filterui.ScriptName {
		t.Fatalf("active script %q", a)
	}
	res = c.Get("/filters/")
	wantStatus(t, res, 200, "Notify me for my contacts", "the sender is in my contacts", "notify me over XMPP (juliet@capulet.example)", "Enabled")

	// The filter runs it: a contact's mail notifies Juliet, a stranger's does not.
	if _, err := e.Accounts.AddContact(ctx, e.Juliet.Address, accounts.Contact{Name: "Romeo", Email: "romeo@montague.example"}); err != nil {
		t.Fatal(err)
	}
	eval := func(from string) filters.Outcome {
		msg := webtest.Message(from, e.Juliet.Address, "Tonight", "At the balcony.")
		out, err := e.Filter.Evaluate(ctx, e.Juliet, filters.Envelope{From: "x@y.example"}, strings.NewReader(msg), int64(len(msg)))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := eval("Romeo <romeo@montague.example>"); len(out.Notifies) != 1 || out.Notifies[0].To != "juliet@capulet.example" ||
		out.Notifies[0].Text != "New mail from Romeo: Tonight" || len(out.Copies) != 1 {
		t.Fatalf("contact's mail: %+v", out)
	}
	if out := eval("Paris <paris@verona.example>"); len(out.Notifies) != 0 {
		t.Fatalf("stranger's mail notified: %+v", out)
	}
}

func TestRuleEditing(t *testing.T) {
	e := newEnv(t)
	c := e.Login(t, e.Juliet.Address)
	save := func(path string, v url.Values) webtest.Response {
		v.Set("rev", rev(t, c))
		v.Set("enabled", "on")
		if v.Get("nc") == "" {
			v.Set("nc", "3")
		}
		v.Set("na", "3")
		return c.PostForm(path, v)
	}
	// Validation: 422, the input kept, nothing stored.
	res := save("/filters/rules", url.Values{"name": {`A "quoted" name`}, "c0f": {"header"}, "c0h": {"Bad Header:"}, "c0o": {"is"},
		"c0v": {"x"}, "c1f": {"subject"}, "c1o": {"contains"}, "a0k": {"redirect"}, "a0a": {"not an address"}})
	wantStatus(t, res, http.StatusUnprocessableEntity, "The rule was not saved", "Condition 1: the header name must be",
		"Condition 2: enter a value", "Action 1: enter the address to forward to", `value="A &#34;quoted&#34; name"`, `value="Bad Header:"`)
	res = save("/filters/rules", url.Values{"name": {"x"}, "a0k": {"discard"}, "a1k": {"fileinto"}, "a1f": {"INBOX"}})
	wantStatus(t, res, http.StatusUnprocessableEntity, "Discard deletes the message")
	res = save("/filters/rules", url.Values{"name": {"x"}})
	wantStatus(t, res, http.StatusUnprocessableEntity, "Choose at least one action.")
	res = save("/filters/rules", url.Values{"name": {"line\nbreak"}, "a0k": {"stop"}})
	wantStatus(t, res, http.StatusUnprocessableEntity, "Rule name: cannot contain line breaks")
	if l, _ := e.Filter.Scripts().List(context.Background(), e.Juliet.ID); len(l) != 0 {
		t.Fatal("an invalid rule was stored")
	}

	// Three rules with hostile values.
	wantStatus(t, save("/filters/rules", url.Values{"name": {"One"}, "c0f": {"from"}, "c0o": {"contains"}, "c0v": {`tybalt"\`},
		"a0k": {"fileinto"}, "a0f": {"INBOX"}, "a1k": {"read"}}), http.StatusSeeOther)
	wantStatus(t, save("/filters/rules", url.Values{"name": {"Two"}, "match": {"any"}, "c0f": {"header"}, "c0h": {"List-Id"},
		"c0o": {"not-contains"}, "c0v": {"verona"}, "c1f": {"notcontacts"}, "a0k": {"redirect"}, "a0a": {"nurse@capulet.example"},
		"a0c": {"on"}, "a1k": {"flag"}}), http.StatusSeeOther)
	wantStatus(t, save("/filters/rules", url.Values{"name": {"Three ☂"}, "a0k": {"stop"}}), http.StatusSeeOther)
	src := script(t, e, e.Juliet, filterui.ScriptName)
	for _, s := range []string{`header :contains "from" "tybalt\"\\"`, `addflag "\\Seen";` + "\n    fileinto \"INBOX\";",
		`anyof (not header :contains "List-Id" "verona",`, `not address :list "from" ":addrbook:default")`,
		`addflag "\\Flagged";` + "\n    redirect :copy \"nurse@capulet.example\";", "if true {\n    stop;\n}"} {
		if !strings.Contains(src, s) {
			t.Fatalf("script lacks %q:\n%s", s, src)
		}
	}

	// The edit form shows rule 2 as saved.
	res = c.Get("/filters/rules/2")
	wantStatus(t, res, 200, "Edit rule 2", `value="Two"`, `id="match-any" name="match" value="any" checked`,
		`<option value="notcontacts" selected>`, `value="List-Id"`, `<option value="not-contains" selected>`,
		`value="nurse@capulet.example"`, `id="a1c" name="a1c" value="on" checked`, "Delete rule")
	for _, p := range []string{"/filters/rules/0", "/filters/rules/4", "/filters/rules/x"} {
		wantStatus(t, c.Get(p), http.StatusNotFound)
	}
	// Update rule 2, move it up, delete rule 1.
	wantStatus(t, save("/filters/rules/2", url.Values{"name": {"Two v2"}, "c0f": {"subject"}, "c0o": {"is"}, "c0v": {"hi"},
		"a0k": {"discard"}}), http.StatusSeeOther)
	wantStatus(t, c.PostForm("/filters/rules/2/up", url.Values{"rev": {rev(t, c)}}), http.StatusSeeOther)
	m, edited := filterui.Read(script(t, e, e.Juliet, filterui.ScriptName))
	if edited || len(m.Rules) != 3 || m.Rules[0].Name != "Two v2" || m.Rules[1].Name != "One" {
		t.Fatalf("after update and move: %+v", m.Rules)
	}
	wantStatus(t, c.PostForm("/filters/rules/3/down", url.Values{"rev": {rev(t, c)}}), http.StatusSeeOther) // last: no-op
	wantStatus(t, c.PostForm("/filters/rules/1/delete", url.Values{"rev": {rev(t, c)}}), http.StatusSeeOther)
	m, _ = filterui.Read(script(t, e, e.Juliet, filterui.ScriptName))
	if len(m.Rules) != 2 || m.Rules[0].Name != "One" || m.Rules[1].Name != "Three ☂" {
		t.Fatalf("after delete: %+v", m.Rules)
	}

	// A form from before a change elsewhere is refused.
	old := rev(t, c)
	wantStatus(t, save("/filters/rules", url.Values{"name": {"Four"}, "a0k": {"stop"}}), http.StatusSeeOther)
	wantStatus(t, c.PostForm("/filters/rules/1/delete", url.Values{"rev": {old}}), http.StatusConflict, "changed since this page was loaded")
	res = c.PostForm("/filters/rules/1", url.Values{"rev": {old}, "name": {"stale"}, "nc": {"1"}, "na": {"1"}, "a0k": {"stop"}})
	wantStatus(t, res, http.StatusConflict, "changed since this page was loaded", `value="stale"`)
	if m, _ := filterui.Read(script(t, e, e.Juliet, filterui.ScriptName)); len(m.Rules) != 3 || m.Rules[0].Name != "One" {
		t.Fatalf("a stale form changed the rules: %+v", m.Rules)
	}
}

func TestHandEditedScript(t *testing.T) {
	e := newEnv(t)
	c := e.Login(t, e.Juliet.Address)
	ctx := context.Background()
	wantStatus(t, c.PostForm("/filters/rules", url.Values{"rev": {rev(t, c)}, "nc": {"1"}, "na": {"1"}, "name": {"Mine"},
		"enabled": {"on"}, "a0k": {"flag"}}), http.StatusSeeOther)
	edited := script(t, e, e.Juliet, filterui.ScriptName) + "if header :contains \"subject\" \"x\" { discard; }\n"
	if err := e.Filter.Scripts().Put(ctx, e.Juliet.ID, filterui.ScriptName, edited); err != nil {
		t.Fatal(err)
	}
	res := c.Get("/filters/")
	wantStatus(t, res, 200, "This script was edited by hand; use the raw editor", "Replace with rules", "Mine")
	if strings.Contains(res.Body, "/filters/rules/1/delete") {
		t.Fatal("rule buttons offered on a hand-edited script")
	}
	wantStatus(t, c.Get("/filters/rules/1"), 200, "This script was edited by hand", `name="replace" value="yes"`)
	wantStatus(t, c.Get("/filters/vacation"), 200, "This script was edited by hand", "Replace with rules")

	// Without the confirmation nothing is overwritten.
	form := url.Values{"rev": {rev(t, c)}, "nc": {"1"}, "na": {"1"}, "name": {"New"}, "enabled": {"on"}, "a0k": {"read"}}
	wantStatus(t, c.PostForm("/filters/rules", form), http.StatusConflict, "This script was edited by hand")
	wantStatus(t, c.PostForm("/filters/rules/1/delete", url.Values{"rev": {rev(t, c)}}), http.StatusConflict)
	wantStatus(t, c.PostForm("/filters/vacation", url.Values{"rev": {rev(t, c)}, "days": {"7"}}), http.StatusConflict)
	if got := script(t, e, e.Juliet, filterui.ScriptName); got != edited {
		t.Fatal("hand-edited script overwritten without confirmation")
	}
	// With it, the rules (read back plus the new one) replace the script.
	form.Set("replace", "yes")
	wantStatus(t, c.PostForm("/filters/rules", form), http.StatusSeeOther)
	m, hand := filterui.Read(script(t, e, e.Juliet, filterui.ScriptName))
	if hand || len(m.Rules) != 2 || m.Rules[1].Name != "New" {
		t.Fatalf("after replace: hand=%v %+v", hand, m.Rules)
	}
	// The list page's own "Replace with rules".
	if err := e.Filter.Scripts().Put(ctx, e.Juliet.ID, filterui.ScriptName, edited); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.PostForm("/filters/replace", url.Values{"rev": {rev(t, c)}}), http.StatusSeeOther)
	if m, hand := filterui.Read(script(t, e, e.Juliet, filterui.ScriptName)); hand || len(m.Rules) != 1 {
		t.Fatalf("after replace: hand=%v %+v", hand, m.Rules)
	}
}

func TestOtherActiveScript(t *testing.T) {
	e := newEnv(t)
	c := e.Login(t, e.Juliet.Address)
	ctx := context.Background()
	sc := e.Filter.Scripts()
	if err := sc.Put(ctx, e.Juliet.ID, "managesieve", "keep;\n"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Activate(ctx, e.Juliet.ID, "managesieve"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.Get("/filters/"), 200, "Your rules are not in effect", "<strong>managesieve</strong>", "Use these rules instead")
	res := c.PostForm("/filters/rules", url.Values{"rev": {rev(t, c)}, "nc": {"1"}, "na": {"1"}, "name": {"R"}, "enabled": {"on"}, "a0k": {"flag"}})
	wantStatus(t, res, http.StatusSeeOther)
	if a := active(t, e, e.Juliet); a != "managesieve" {
		t.Fatalf("saving a rule switched the active script to %q", a)
	}
	wantStatus(t, c.Get("/filters/"), 200, `Rule &#34;R&#34; saved. Your rules are not in effect: the script &#34;managesieve&#34; is active.`)
	wantStatus(t, c.PostForm("/filters/activate", nil), http.StatusSeeOther)
	if a := active(t, e, e.Juliet); a != filterui.ScriptName {
		t.Fatalf("active %q after switching", a)
	}
	if strings.Contains(c.Get("/filters/").Body, "Use these rules instead") {
		t.Fatal("still offering to switch")
	}
}

func TestRawEditor(t *testing.T) {
	e := newEnv(t)
	c := e.Login(t, e.Juliet.Address)
	res := c.Get("/filters/raw")
	wantStatus(t, res, 200, `<label for="script">Sieve script</label>`, `<textarea id="script" name="script" class="code"`,
		`<label for="script-name">Script name</label>`, `value="tidings"`, ">Save</button>", ">Save and activate</button>")

	// A compile error: 422, "line L:C: message", the input kept.
	bad := "require \"fileinto\";\r\nif header :contains \"subject\" \"x\" {\r\n  fileinto \"A\"\r\n}\r\n"
	res = c.PostForm("/filters/raw", url.Values{"name": {"mine"}, "script": {bad}, "op": {"save"}})
	wantStatus(t, res, http.StatusUnprocessableEntity, `<p class="error">line 4:1: `, `data-error-pos="4:1"`, `aria-invalid="true"`,
		`if header :contains &#34;subject&#34; &#34;x&#34; {`, `value="mine"`)
	res = c.PostForm("/filters/raw", url.Values{"name": {"mine"}, "script": {"fileinto \"A\";"}, "op": {"save"}})
	wantStatus(t, res, http.StatusUnprocessableEntity, "line 1:1: ", "fileinto")
	res = c.PostForm("/filters/raw", url.Values{"name": {"a/b"}, "script": {"keep;"}, "op": {"save"}})
	wantStatus(t, res, http.StatusUnprocessableEntity, "Script name: contains a control character or &#39;/&#39;.")
	if l, _ := e.Filter.Scripts().List(context.Background(), e.Juliet.ID); len(l) != 0 {
		t.Fatal("a refused script was stored")
	}

	// Save, then save and activate; line ends become LF.
	good := strings.Replace(bad, "\"A\"\r\n", "\"A\";\r\n", 1)
	wantStatus(t, c.PostForm("/filters/raw", url.Values{"name": {"mine"}, "script": {good}, "op": {"save"}}), http.StatusSeeOther)
	if a := active(t, e, e.Juliet); a != "" {
		t.Fatalf("Save activated %q", a)
	}
	wantStatus(t, c.PostForm("/filters/raw", url.Values{"name": {"mine"}, "script": {good}, "op": {"activate"}}), http.StatusSeeOther)
	if a := active(t, e, e.Juliet); a != "mine" {
		t.Fatalf("active %q", a)
	}
	if got := script(t, e, e.Juliet, "mine"); got != strings.ReplaceAll(good, "\r\n", "\n") {
		t.Fatalf("stored %q", got)
	}
	res = c.Get("/filters/raw")
	wantStatus(t, res, 200, "Edit “mine”", `fileinto &#34;A&#34;;`, "<strong>Active</strong>")
	wantStatus(t, c.Get("/filters/raw?name=nope"), http.StatusNotFound)

	// The active script cannot be deleted; deactivate, then delete.
	wantStatus(t, c.PostForm("/filters/raw/delete", url.Values{"name": {"mine"}}), http.StatusConflict, "is active")
	wantStatus(t, c.PostForm("/filters/raw/activate", url.Values{"name": {""}}), http.StatusSeeOther)
	if a := active(t, e, e.Juliet); a != "" {
		t.Fatalf("active %q after deactivating", a)
	}
	wantStatus(t, c.PostForm("/filters/raw/activate", url.Values{"name": {"nope"}}), http.StatusNotFound)
	wantStatus(t, c.PostForm("/filters/raw/delete", url.Values{"name": {"mine"}}), http.StatusSeeOther)
	if l, _ := e.Filter.Scripts().List(context.Background(), e.Juliet.ID); len(l) != 0 {
		t.Fatalf("not deleted: %+v", l)
	}
}

func TestVacation(t *testing.T) {
	e := newEnv(t)
	c := e.Login(t, e.Juliet.Address)
	res := c.Get("/filters/vacation")
	wantStatus(t, res, 200, `<label for="vac-on">Out of office</label>`, `<label for="vac-subject">Subject</label>`,
		`<label for="vac-message">Message</label>`, `<label for="vac-days">Reply at most every N days</label>`, `value="7"`,
		`<label for="vac-contacts">Only to my contacts</label>`, "date extension")
	wantStatus(t, c.PostForm("/filters/vacation", url.Values{"rev": {rev(t, c)}, "enabled": {"on"}, "days": {"7"}}),
		http.StatusUnprocessableEntity, "Write the message")
	wantStatus(t, c.PostForm("/filters/vacation", url.Values{"rev": {rev(t, c)}, "enabled": {"on"}, "message": {"x"}, "days": {"0"}}),
		http.StatusUnprocessableEntity, "Reply at most every 1 to 365 days", `value="0"`)
	wantStatus(t, c.PostForm("/filters/vacation", url.Values{"rev": {rev(t, c)}, "enabled": {"on"}, "message": {"x"}, "days": {"two"}}),
		http.StatusUnprocessableEntity, "Reply at most every", `value="two"`)

	// A rule first, then the vacation: it is written before the rule.
	wantStatus(t, c.PostForm("/filters/rules", url.Values{"rev": {rev(t, c)}, "nc": {"1"}, "na": {"1"}, "name": {"Bin"},
		"enabled": {"on"}, "a0k": {"discard"}}), http.StatusSeeOther)
	wantStatus(t, c.PostForm("/filters/vacation", url.Values{"rev": {rev(t, c)}, "enabled": {"on"}, "subject": {`Away "now"`},
		"message": {"In Mantua.\r\nBack Monday."}, "days": {"3"}, "contacts": {"on"}}), http.StatusSeeOther)
	src := script(t, e, e.Juliet, filterui.ScriptName)
	vi, ri := strings.Index(src, "vacation :days 3 :subject \"Away \\\"now\\\"\" \"In Mantua.\nBack Monday.\";"), strings.Index(src, "discard;")
	if vi < 0 || ri < 0 || vi > ri || !strings.Contains(src, `if address :list "from" ":addrbook:default" {`+"\n    vacation") {
		t.Fatalf("script:\n%s", src)
	}
	wantStatus(t, c.Get("/filters/"), 200, "<strong>On:</strong> replying to your contacts with “Away &#34;now&#34;”, at most every 3 days")
	res = c.Get("/filters/vacation")
	wantStatus(t, res, 200, `id="vac-on" name="enabled" value="on" checked`, `value="Away &#34;now&#34;"`, "In Mantua.\nBack Monday.</textarea>",
		`value="3"`, `id="vac-contacts" name="contacts" value="on" checked`)

	// Off keeps the text but writes no vacation command.
	wantStatus(t, c.PostForm("/filters/vacation", url.Values{"rev": {rev(t, c)}, "subject": {"Away"}, "message": {"In Mantua."},
		"days": {"3"}}), http.StatusSeeOther)
	src = script(t, e, e.Juliet, filterui.ScriptName)
	if strings.Contains(src, "vacation :days") || strings.Contains(src, `"vacation"`) || !strings.Contains(src, `"message":"In Mantua."`) {
		t.Fatalf("script with vacation off:\n%s", src)
	}
}

// TestCSRF: every state-changing route refuses a request without the token.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.Login(t, e.Juliet.Address)
	for _, p := range []string{"/filters/rules", "/filters/rules/1", "/filters/rules/1/delete", "/filters/rules/1/up",
		"/filters/rules/1/down", "/filters/raw", "/filters/raw/delete", "/filters/raw/activate", "/filters/vacation",
		"/filters/activate", "/filters/replace"} {
		res := c.PostForm(p, url.Values{"csrf": {"forged"}, "name": {"x"}, "script": {"discard;"}, "op": {"activate"},
			"nc": {"0"}, "na": {"1"}, "a0k": {"discard"}, "enabled": {"on"}, "message": {"x"}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without the token: %d", p, res.StatusCode)
		}
	}
	if l, _ := e.Filter.Scripts().List(context.Background(), e.Juliet.ID); len(l) != 0 {
		t.Fatalf("a forged request stored a script: %+v", l)
	}
}

// TestAccessControl: everything is keyed by the signed-in user; naming
// another user's script or rule finds nothing.
func TestAccessControl(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	j := e.Login(t, e.Juliet.Address)
	wantStatus(t, j.PostForm("/filters/rules", url.Values{"rev": {rev(t, j)}, "nc": {"1"}, "na": {"1"}, "name": {"Juliet's secret rule"},
		"enabled": {"on"}, "a0k": {"flag"}}), http.StatusSeeOther)
	if err := e.Filter.Scripts().Put(ctx, e.Juliet.ID, "private", "# juliet's own\nkeep;\n"); err != nil {
		t.Fatal(err)
	}

	r := e.Login(t, e.Romeo.Address)
	for _, p := range []string{"/filters/", "/filters/raw", "/filters/vacation"} {
		res := r.Get(p)
		if res.StatusCode != 200 || strings.Contains(res.Body, "secret") || strings.Contains(res.Body, "private") {
			t.Fatalf("romeo's %s shows juliet's filters: %d", p, res.StatusCode)
		}
	}
	wantStatus(t, r.Get("/filters/rules/1"), http.StatusNotFound)
	wantStatus(t, r.Get("/filters/raw?name=private"), http.StatusNotFound)
	wantStatus(t, r.Get("/filters/raw?name=tidings"), http.StatusNotFound)
	wantStatus(t, r.PostForm("/filters/rules/1/delete", url.Values{"rev": {"none"}}), http.StatusNotFound)
	wantStatus(t, r.PostForm("/filters/rules/1", url.Values{"rev": {"none"}, "nc": {"0"}, "na": {"1"}, "name": {"x"}, "a0k": {"stop"}}),
		http.StatusNotFound)
	wantStatus(t, r.PostForm("/filters/raw/delete", url.Values{"name": {"private"}}), http.StatusNotFound)
	wantStatus(t, r.PostForm("/filters/raw/activate", url.Values{"name": {"private"}}), http.StatusNotFound)
	// Romeo's own "tidings" is his, and Juliet's stays as it was.
	wantStatus(t, r.PostForm("/filters/raw", url.Values{"name": {"private"}, "script": {"discard;"}, "op": {"activate"}}), http.StatusSeeOther)
	if got := script(t, e, e.Juliet, "private"); got != "# juliet's own\nkeep;\n" {
		t.Fatalf("juliet's script changed: %q", got)
	}
	if got := script(t, e, e.Romeo, "private"); got != "discard;" {
		t.Fatalf("romeo's script: %q", got)
	}
	if a := active(t, e, e.Juliet); a != filterui.ScriptName {
		t.Fatalf("juliet's active script: %q", a)
	}
	// Anonymous: redirected to the login page or 401.
	anon := e.NewClient(t)
	if res := anon.Get("/filters/raw"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("anonymous GET: %d", res.StatusCode)
	}
}
