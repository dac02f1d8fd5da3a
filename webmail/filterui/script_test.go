package filterui

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/filters/sieve"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

var update = flag.Bool("update", false, "rewrite the golden files")

// hostile values: quotes, backslashes, line breaks, Sieve syntax, comment
// markers, variables and encoded characters (neither is required, so both
// stay literal), unicode.
var hostile = []string{
	`say "hi"`,
	`back\slash\\`,
	`\"; discard; if true { keep`,
	"line\nbreak",
	"crlf\r\nand\rcr",
	"x\n# rule: {\"name\":\"evil\",\"enabled\":true,\"actions\":[{\"kind\":\"discard\"}]}\n",
	"*/ /* # text:\n.\n",
	"${from} ${hex:41}",
	"Grüße 👋 日本語 \u2028 \u200b",
	`"`,
	`\`,
	" leading and trailing ",
}

func rulesFor(v string) []Rule {
	return []Rule{
		{Name: v, Enabled: true, Conditions: []Condition{{Field: FieldFrom, Op: OpContains, Value: v}},
			Actions: []Action{{Kind: ActFileinto, Folder: v}}},
		{Name: "subject is", Enabled: true, Any: true, Conditions: []Condition{
			{Field: FieldSubject, Op: OpIs, Value: v}, {Field: FieldTo, Op: OpNotContains, Value: v},
			{Field: FieldHeader, Header: "X-Spam-Flag", Op: OpIsNot, Value: v}}, Actions: []Action{{Kind: ActRead}, {Kind: ActStop}}},
		{Name: "disabled " + v, Enabled: false, Conditions: []Condition{{Field: FieldHeader, Header: "List-Id", Op: OpContains, Value: v}},
			Actions: []Action{{Kind: ActDiscard}}},
	}
}

func TestRoundTrip(t *testing.T) {
	cases := []Model{
		{},
		{Rules: []Rule{{Name: "all mail", Enabled: true, Actions: []Action{{Kind: ActFlag}}}}},
		{Rules: []Rule{{Name: "contacts", Enabled: true, Conditions: []Condition{{Field: FieldContacts, Op: OpIs}},
			Actions: []Action{{Kind: ActNotify, Address: "juliet@capulet.example"}}}}},
		{Rules: []Rule{{Name: "strangers", Enabled: true, Conditions: []Condition{{Field: FieldContacts, Op: OpIsNot},
			{Field: FieldFrom, Op: OpIs, Value: "tybalt@capulet.example"}},
			Actions: []Action{{Kind: ActRead}, {Kind: ActFlag}, {Kind: ActFileinto, Folder: "Archive/2026"},
				{Kind: ActRedirect, Address: "nurse@capulet.example", Copy: true}, {Kind: ActStop}}}}},
		{Rules: []Rule{{Name: "forward", Enabled: true, Conditions: []Condition{{Field: FieldTo, Op: OpIs, Value: "sales@x.example"}},
			Actions: []Action{{Kind: ActRedirect, Address: "bob@x.example"}}}}},
		{Vacation: &Vacation{Enabled: true, Message: "Away.", Days: 7}},
		{Vacation: &Vacation{Enabled: false, Subject: "Off", Message: "Back soon.", Days: 3, ContactsOnly: true}},
		{Vacation: &Vacation{Enabled: true, Subject: "Away", Message: "In Mantua.\n\n-- \nRomeo", Days: 1, ContactsOnly: true},
			Rules: rulesFor("x")},
		{Rules: []Rule{{Name: "unicode", Enabled: true, Conditions: []Condition{{Field: FieldFrom, Op: OpIs, Value: "用户@例子.广告"}},
			Actions: []Action{{Kind: ActNotify, Address: "jüliet@capulet.example"}, {Kind: ActFileinto, Folder: "Zürich/Ärger"}}}}},
	}
	for i, v := range hostile {
		cases = append(cases, Model{Rules: rulesFor(v), Vacation: &Vacation{Enabled: i%2 == 0, Subject: v, Message: v, Days: i + 1,
			ContactsOnly: i%3 == 0}})
	}
	for i, m := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			src := Generate(m)
			if err := filters.Check(filters.DefaultConfig(), src); err != nil {
				t.Fatalf("does not compile: %v\n%s", err, src)
			}
			back, edited := Read(src)
			if edited {
				t.Fatalf("read back as hand-edited:\n%s", src)
			}
			if !reflect.DeepEqual(back, m) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", back, m)
			}
			if strings.Contains(src, "evil") && len(back.Rules) != len(m.Rules) {
				t.Fatal("a value posed as a rule comment")
			}
		})
	}
}

// TestHostileValuesStayLiteral runs scripts whose values hold Sieve syntax
// and checks the engine compares with exactly the value.
func TestHostileValuesStayLiteral(t *testing.T) {
	for _, v := range hostile {
		if strings.ContainsAny(v, "\r\n\u2028") || strings.TrimSpace(v) != v {
			continue // header values are unfolded and trimmed
		}
		m := Model{Rules: []Rule{{Name: "n", Enabled: true, Conditions: []Condition{{Field: FieldSubject, Op: OpIs, Value: v}},
			Actions: []Action{{Kind: ActFileinto, Folder: v}}}}}
		res := run(t, Generate(m), "From: a@example.org\r\nSubject: "+v+"\r\n\r\nbody\r\n", nil)
		if len(res.Keep) != 1 || res.Keep[0].Mailbox != v {
			t.Errorf("value %q: %+v", v, res.Keep)
		}
		res = run(t, Generate(m), "From: a@example.org\r\nSubject: "+v+"x\r\n\r\nbody\r\n", nil)
		if len(res.Keep) != 1 || res.Keep[0].Mailbox != "INBOX" {
			t.Errorf("value %q matched a longer subject: %+v", v, res.Keep)
		}
	}
}

func TestGolden(t *testing.T) {
	cases := map[string]Model{
		"contacts_notify": {Rules: []Rule{{Name: "Notify me for my contacts", Enabled: true,
			Conditions: []Condition{{Field: FieldContacts, Op: OpIs}},
			Actions:    []Action{{Kind: ActNotify, Address: "juliet@capulet.example"}}}}},
		"mixed": {
			Vacation: &Vacation{Enabled: true, Subject: "Away", Message: "I am in Mantua until Monday.\n\"Parting is such sweet sorrow.\"",
				Days: 3, ContactsOnly: true},
			Rules: []Rule{
				{Name: "Lists", Enabled: true, Any: true, Conditions: []Condition{
					{Field: FieldHeader, Header: "List-Id", Op: OpContains, Value: "verona"},
					{Field: FieldSubject, Op: OpContains, Value: `[verona\news]`}},
					Actions: []Action{{Kind: ActRead}, {Kind: ActFileinto, Folder: "Lists/Verona"}, {Kind: ActStop}}},
				{Name: "Tybalt", Enabled: true, Conditions: []Condition{{Field: FieldFrom, Op: OpIs, Value: "tybalt@capulet.example"}},
					Actions: []Action{{Kind: ActDiscard}}},
				{Name: "Boss", Enabled: true, Conditions: []Condition{{Field: FieldFrom, Op: OpContains, Value: "escalus"},
					{Field: FieldContacts, Op: OpIsNot}},
					Actions: []Action{{Kind: ActFlag}, {Kind: ActRedirect, Address: "romeo@montague.example", Copy: true}}},
				{Name: "Old", Enabled: false, Actions: []Action{{Kind: ActDiscard}}},
			}},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			got := Generate(m)
			if err := filters.Check(filters.DefaultConfig(), got); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".sieve")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("%s differs (go test -update):\n%s", path, got)
			}
		})
	}
}

// run compiles and runs src over msg; contacts are the address book.
func run(t *testing.T, src, msg string, contacts []string) *sieve.Result {
	t.Helper()
	s, err := sieve.Parse([]byte(src), sieve.DefaultOptions())
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	m, err := sieve.NewMessage(strings.NewReader(msg), int64(len(msg)))
	if err != nil {
		t.Fatal(err)
	}
	env := &sieve.Env{From: "sender@example.org", To: "juliet@capulet.example", User: "juliet@capulet.example", Msg: m,
		Now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC),
		ListContains: func(_ context.Context, list, value string) (bool, error) {
			if list != "urn:ietf:params:sieve:addrbook:default" {
				t.Errorf("list %q", list)
			}
			return slices.Contains(contacts, strings.ToLower(value)), nil
		},
		ValidList: func(list string) bool { return list == "urn:ietf:params:sieve:addrbook:default" },
	}
	res, err := s.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func TestGeneratedScriptsBehave(t *testing.T) {
	msg := func(from, subject string) string {
		return "From: " + from + "\r\nTo: Juliet <juliet@capulet.example>\r\nSubject: " + subject +
			"\r\nMessage-ID: <1@x>\r\n\r\nHello\r\n"
	}
	contacts := []string{"romeo@montague.example"}
	m := Model{
		Vacation: &Vacation{Enabled: true, Subject: "Away", Message: "Back Monday.", Days: 2, ContactsOnly: true},
		Rules: []Rule{
			{Name: "From x", Enabled: true, Conditions: []Condition{{Field: FieldFrom, Op: OpContains, Value: "tybalt"}},
				Actions: []Action{{Kind: ActFileinto, Folder: "Capulets"}, {Kind: ActStop}}},
			{Name: "Contacts", Enabled: true, Conditions: []Condition{{Field: FieldContacts, Op: OpIs}},
				Actions: []Action{{Kind: ActNotify, Address: "juliet@capulet.example"}}},
			{Name: "Strangers' spam", Enabled: true, Conditions: []Condition{{Field: FieldContacts, Op: OpIsNot},
				{Field: FieldSubject, Op: OpContains, Value: "WIN"}}, Actions: []Action{{Kind: ActRead}, {Kind: ActDiscard}}},
			{Name: "Disabled", Enabled: false, Actions: []Action{{Kind: ActDiscard}}},
		},
	}
	src := Generate(m)

	// From contains x: filed, and stop skips the later rules.
	res := run(t, src, msg("Tybalt <tybalt@capulet.example>", "Hi"), contacts)
	if len(res.Keep) != 1 || res.Keep[0].Mailbox != "Capulets" || len(res.Notifies) != 0 || res.Discard {
		t.Fatalf("from contains: %+v", res)
	}
	if res.Vacation != nil {
		t.Fatal("vacation for a non-contact")
	}
	// A contact: notified over XMPP, kept in INBOX, answered by the vacation.
	res = run(t, src, msg("Romeo <romeo@montague.example>", "Tonight"), contacts)
	if len(res.Notifies) != 1 || res.Notifies[0].Method != "xmpp:juliet@capulet.example" || res.Notifies[0].Message != "" {
		t.Fatalf("contact notify: %+v", res.Notifies)
	}
	if len(res.Keep) != 1 || res.Keep[0].Mailbox != "INBOX" {
		t.Fatalf("contact keep: %+v", res.Keep)
	}
	if res.Vacation == nil || res.Vacation.Reason != "Back Monday." || res.Vacation.Subject != "Away" || res.Vacation.Period != 48*time.Hour {
		t.Fatalf("vacation: %+v", res.Vacation)
	}
	// A contact's address hidden in an encoded display name is no contact.
	res = run(t, src, msg("=?utf-8?q?romeo=40montague=2Eexample?= <mallory@evil.example>", "Tonight"), contacts)
	if len(res.Notifies) != 0 {
		t.Fatalf("spoofed contact notified: %+v", res.Notifies)
	}
	// A stranger's WIN: marked read and discarded; the disabled rule never runs.
	res = run(t, src, msg("spam@example.net", "YOU WIN"), contacts)
	if !res.Discard || len(res.Keep) != 0 {
		t.Fatalf("discard: %+v", res)
	}
	// Anything else: implicit keep only.
	res = run(t, src, msg("friar@church.example", "Plan"), contacts)
	if res.Discard || len(res.Keep) != 1 || res.Keep[0].Mailbox != "INBOX" || len(res.Keep[0].Flags) != 0 {
		t.Fatalf("keep: %+v", res)
	}

	// Flags apply to the copy filed after them, whatever order they were
	// chosen in; "is" on From compares the address, not the display name.
	r := Rule{Name: "f", Enabled: true, Conditions: []Condition{{Field: FieldFrom, Op: OpIs, Value: "Nurse@Capulet.example"}},
		Actions: []Action{{Kind: ActFileinto, Folder: "Nurse"}, {Kind: ActFlag}, {Kind: ActRead}}}
	r.Normalize()
	res = run(t, Generate(Model{Rules: []Rule{r}}), msg("The Nurse <nurse@capulet.example>", "x"), nil)
	if len(res.Keep) != 1 || res.Keep[0].Mailbox != "Nurse" || !slices.Equal(res.Keep[0].Flags, []string{`\Flagged`, `\Seen`}) &&
		!slices.Equal(res.Keep[0].Flags, []string{`\Seen`, `\Flagged`}) {
		t.Fatalf("flags: %+v", res.Keep)
	}
	// Forward with a copy keeps; without, it does not.
	fw := func(copy bool) *sieve.Result {
		return run(t, Generate(Model{Rules: []Rule{{Name: "fw", Enabled: true,
			Actions: []Action{{Kind: ActRedirect, Address: "nurse@capulet.example", Copy: copy}}}}}), msg("a@b.example", "x"), nil)
	}
	if res := fw(true); len(res.Redirects) != 1 || len(res.Keep) != 1 {
		t.Fatalf("redirect :copy: %+v", res)
	}
	if res := fw(false); len(res.Redirects) != 1 || len(res.Keep) != 0 {
		t.Fatalf("redirect: %+v", res)
	}
}

func TestHandEdited(t *testing.T) {
	m := Model{Rules: rulesFor("x")}
	src := Generate(m)
	if _, edited := Read(src); edited {
		t.Fatal("own script seen as edited")
	}
	for name, s := range map[string]string{
		"appended":       src + "discard;\n",
		"code changed":   strings.Replace(src, `fileinto "x"`, `fileinto "y"`, 1),
		"comment broken": strings.Replace(src, `# rule: {"name":"x"`, `# rule: {"name":"x",`, 1),
		"unknown field":  strings.Replace(src, `# rule: {"name":"x"`, `# rule: {"nom":"z","name":"x"`, 1),
		"header changed": strings.Replace(src, "# Filters", "# My filters", 1),
		"crlf":           strings.ReplaceAll(src, "\n", "\r\n"),
		"two vacations":  Generate(Model{Vacation: &Vacation{Days: 1}}) + "# vacation: {\"enabled\":false,\"message\":\"\",\"days\":1}\n",
		"foreign":        "require \"fileinto\";\nif header :contains \"subject\" \"x\" { fileinto \"x\"; }\n",
	} {
		back, edited := Read(s)
		if !edited {
			t.Errorf("%s: not seen as edited", name)
		}
		if name == "code changed" && !reflect.DeepEqual(back, m) {
			t.Errorf("%s: the rules should still read back", name)
		}
	}
}

// FuzzRoundTrip: any UTF-8 value generates a script that compiles and
// reads back to the same model.
func FuzzRoundTrip(f *testing.F) {
	for _, v := range hostile {
		f.Add(v, v)
	}
	f.Fuzz(func(t *testing.T, value, folder string) {
		if !utf8.ValidString(value) || !utf8.ValidString(folder) || folder == "" {
			return
		}
		m := Model{Vacation: &Vacation{Enabled: true, Subject: value, Message: value, Days: 1},
			Rules: []Rule{{Name: value, Enabled: true, Conditions: []Condition{{Field: FieldSubject, Op: OpContains, Value: value}},
				Actions: []Action{{Kind: ActFileinto, Folder: folder}}}}}
		src := Generate(m)
		if err := filters.Check(filters.DefaultConfig(), src); err != nil {
			if strings.Contains(err.Error(), "too large") {
				return
			}
			t.Fatalf("does not compile: %v\n%q", err, src)
		}
		back, edited := Read(src)
		if edited || !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip of %q, %q: edited=%v", value, folder, edited)
		}
	})
}
