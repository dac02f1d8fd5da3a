package contacts

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestVCardWriteRead(t *testing.T) {
	in := []card{
		{Name: "Tybalt", Email: "tybalt@capulet.example", JID: "tybalt@capulet.example", Note: "Prince of cats; quick with a sword,\nslow to forgive. C:\\duel"},
		{Email: "nameless@verona.example"},
		{JID: "friar+cell@verona.example"},
		{Name: strings.Repeat("Ñandú ", 30), Note: strings.Repeat("é", 100)},
	}
	var b bytes.Buffer
	if err := writeVCards(&b, in); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for i, l := range strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n") {
		if len(l) > vcardFoldAt || !utf8.ValidString(l) {
			t.Errorf("line %d: %d octets or split UTF-8: %q", i+1, len(l), l)
		}
	}
	for _, want := range []string{"VERSION:4.0\r\n", "FN:Tybalt\r\n", "IMPP:xmpp:tybalt@capulet.example\r\n",
		`NOTE:Prince of cats\; quick with a sword\,\nslow to forgive. C:\\duel`, "FN:nameless@verona.example\r\n",
		"IMPP:xmpp:friar+cell@verona.example\r\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	if strings.Count(text, "BEGIN:VCARD") != 4 || strings.Count(text, "END:VCARD") != 4 {
		t.Errorf("cards: %s", text)
	}
	out, err := readCards(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for i := range out {
		out[i].Line = 0
	}
	in[3].Name = strings.TrimSpace(in[3].Name)
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n in %+v\nout %+v", in, out)
	}
}

// A vCard 3.0 file as address books write it: LF or CRLF, folded lines
// (one inside a UTF-8 character), groups, quoted parameters, N without FN,
// TYPE=pref, X-JABBER, a 2.1 card with quoted-printable and bare types.
const sample30 = "BEGIN:VCARD\r\n" +
	"VERSION:3.0\r\n" +
	"N:Capulet;Juliet;;Lady;\r\n" +
	"item1.EMAIL;type=INTERNET;type=HOME:juliet@home.example\r\n" +
	"item2.EMAIL;TYPE=INTERNET,WORK,pref:juliet@capulet.example\r\n" +
	"IMPP;X-SERVICE-TYPE=Jabber;type=\"HOME,pref\":xmpp:juliet@capulet.ex\r\n" +
	" ample\r\n" +
	"NOTE:Lives on the balcony\\, mostly.\\nLikes roses\\; dislikes Montag\xc3\r\n" +
	"\t\xbcs.\r\n" +
	"PHOTO;ENCODING=b;TYPE=JPEG:AAAA\r\n" +
	"END:VCARD\r\n" +
	"BEGIN:VCARD\n" +
	"VERSION:3.0\n" +
	"FN:Nurse\n" +
	"X-JABBER;TYPE=HOME:nurse@capulet.example\n" +
	"END:VCARD\n" +
	"BEGIN:VCARD\r\n" +
	"VERSION:2.1\r\n" +
	"FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Fr=C3=A8re Laurent\r\n" +
	"EMAIL;INTERNET;PREF:friar@verona.example\r\n" +
	"END:VCARD\r\n" +
	"BEGIN:VCARD\r\n" +
	"VERSION:3.0\r\n" +
	"FN:Cut short\r\n"

func TestVCardRead30(t *testing.T) {
	cs, err := readCards([]byte(sample30))
	if err != nil {
		t.Fatal(err)
	}
	want := []card{
		{Name: "Lady Juliet Capulet", Email: "juliet@capulet.example", JID: "juliet@capulet.example",
			Note: "Lives on the balcony, mostly.\nLikes roses; dislikes Montagüs.", Line: 1},
		{Name: "Nurse", JID: "nurse@capulet.example", Line: 12},
		{Name: "Frère Laurent", Email: "friar@verona.example", Line: 17},
		{Name: "Cut short", Line: 22, Problem: "the card has no END:VCARD (the file may be cut short)"},
	}
	if !reflect.DeepEqual(cs, want) {
		t.Errorf("got\n%+v\nwant\n%+v", cs, want)
	}
	if _, err := readCards([]byte("FN:no card\r\n")); err != errNoCards {
		t.Errorf("no card: %v", err)
	}
}

func TestJIDOfURI(t *testing.T) {
	for uri, want := range map[string]string{
		"xmpp:romeo@montague.example":                     "romeo@montague.example",
		"XMPP:romeo@montague.example/orchard?message":     "romeo@montague.example",
		"xmpp://guest@example.com/romeo@montague.example": "romeo@montague.example",
		"xmpp:f%C3%BCr@montague.example":                  "für@montague.example",
		"sip:romeo@montague.example":                      "",
		"xmpp:%zz@montague.example":                       "",
		"xmpp://no-slash":                                 "",
	} {
		if got := jidOfURI(uri); got != want {
			t.Errorf("%q: %q, want %q", uri, got, want)
		}
	}
}

func FuzzReadCards(f *testing.F) {
	f.Add([]byte(sample30))
	var b bytes.Buffer
	writeVCards(&b, []card{{Name: "A;B", Email: "a@b.example", JID: "c@d.example", Note: "x\ny"}})
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := readCards(data)
		if err != nil {
			return
		}
		// Writing and reading again is stable after one round.
		round := func(cs []card) []card {
			var w bytes.Buffer
			if err := writeVCards(&w, cs); err != nil {
				t.Fatal(err)
			}
			out, err := readCards(w.Bytes())
			if err != nil && len(cs) > 0 {
				t.Fatalf("re-reading: %v", err)
			}
			for i := range out {
				out[i].Line = 0
			}
			return out
		}
		for i := range cs {
			cs[i].Line, cs[i].Problem = 0, ""
		}
		once := round(cs)
		if len(once) != len(cs) {
			t.Fatalf("%d cards became %d", len(cs), len(once))
		}
		if twice := round(once); !reflect.DeepEqual(once, twice) {
			t.Fatalf("not stable:\n%+v\n%+v", once, twice)
		}
	})
}
