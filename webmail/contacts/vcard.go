package contacts

import (
	"bytes"
	"errors"
	"io"
	"mime/quotedprintable"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// card is what the address book keeps of one vCard.
type card struct {
	Name, Email, JID, Note string
	Line                   int    // the BEGIN:VCARD line, for import reports
	Problem                string // set by readCards when the card is broken
}

// vcardFoldAt is where long lines are folded: RFC 6350 §3.2 says lines
// SHOULD NOT be longer than 75 octets, excluding the line break.
const vcardFoldAt = 75

// writeVCards writes cs as vCard 4.0 (RFC 6350): FN, EMAIL, IMPP (xmpp:)
// and NOTE, CRLF line ends, long lines folded.
func writeVCards(w io.Writer, cs []card) error {
	var b bytes.Buffer
	for _, c := range cs {
		b.WriteString("BEGIN:VCARD\r\nVERSION:4.0\r\n")
		// FN is required (RFC 6350 §6.2.1, cardinality 1*). A contact
		// without a name is named by its address; readCards maps that back.
		fn := c.Name
		if fn == "" {
			fn = c.Email
		}
		if fn == "" {
			fn = c.JID
		}
		writeLine(&b, "FN:"+escapeText(fn))
		if c.Email != "" {
			writeLine(&b, "EMAIL:"+escapeText(c.Email))
		}
		if c.JID != "" {
			writeLine(&b, "IMPP:"+xmppURI(c.JID))
		}
		if c.Note != "" {
			writeLine(&b, "NOTE:"+escapeText(c.Note))
		}
		b.WriteString("END:VCARD\r\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeLine writes one content line folded at vcardFoldAt octets, never
// inside a UTF-8 sequence (RFC 6350 §3.2: a fold is CRLF and one space).
func writeLine(b *bytes.Buffer, line string) {
	limit := vcardFoldAt
	for len(line) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		b.WriteString(line[:cut])
		b.WriteString("\r\n ")
		line = line[cut:]
		limit = vcardFoldAt - 1 // the leading space counts
	}
	b.WriteString(line)
	b.WriteString("\r\n")
}

// escapeText escapes a TEXT value (RFC 6350 §3.4).
func escapeText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// xmppURI is the xmpp: URI of a bare JID (RFC 5122 §2).
func xmppURI(jid string) string {
	local, domain, _ := strings.Cut(jid, "@")
	return "xmpp:" + url.PathEscape(local) + "@" + domain
}

// jidOfURI returns the bare JID of an xmpp: URI (RFC 5122 §2: an optional
// //authority/ is skipped, the query and resource dropped, percent-escapes
// decoded), or "".
func jidOfURI(uri string) string {
	rest, ok := cutPrefixFold(uri, "xmpp:")
	if !ok {
		return ""
	}
	if strings.HasPrefix(rest, "//") {
		_, rest, ok = strings.Cut(rest[2:], "/")
		if !ok {
			return ""
		}
	}
	rest, _, _ = strings.Cut(rest, "?")
	rest, _, _ = strings.Cut(rest, "#")
	jid, err := url.PathUnescape(rest)
	if err != nil {
		return ""
	}
	jid, _, _ = strings.Cut(jid, "/")
	return jid
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// property is one content line: NAME;PARAM=VALUE,…:value (RFC 6350 §3.3).
type property struct {
	name   string              // upper case, without its group
	params map[string][]string // names upper case
	value  string              // raw (still escaped)
}

// errNoCards is returned when the input holds no BEGIN:VCARD at all.
var errNoCards = errors.New("the file holds no vCard (BEGIN:VCARD … END:VCARD)")

// readCards parses vCards 3.0 (RFC 2426) and 4.0 (RFC 6350), and what it
// can of 2.1: FN (or N), EMAIL (the preferred one), IMPP xmpp: (or the
// X-JABBER and X-XMPP extensions) and NOTE. Folded lines are unfolded;
// quoted-printable values are decoded when they fit on one line. Other
// properties are ignored. A card with unbalanced BEGIN/END is dropped.
func readCards(data []byte) ([]card, error) {
	var (
		out   []card
		cur   *card
		depth int
		props []property
	)
	for _, ln := range unfold(data) {
		p, ok := parseLine(ln.text)
		if !ok {
			continue
		}
		switch {
		case p.name == "BEGIN" && strings.EqualFold(p.value, "VCARD"):
			depth++
			if depth == 1 {
				cur, props = &card{Line: ln.num}, nil
			}
		case p.name == "END" && strings.EqualFold(p.value, "VCARD"):
			if depth == 0 {
				continue
			}
			depth--
			if depth == 0 {
				fill(cur, props)
				out = append(out, *cur)
				cur = nil
			}
		case depth == 1:
			props = append(props, p)
		}
	}
	if cur != nil {
		fill(cur, props)
		cur.Problem = "the card has no END:VCARD (the file may be cut short)"
		out = append(out, *cur)
	}
	if out == nil {
		return nil, errNoCards
	}
	return out, nil
}

// numbered is an unfolded line with the number of its first physical line.
type numbered struct {
	num  int
	text string
}

// unfold splits data into logical lines (RFC 6350 §3.2, RFC 2425 §5.8.1):
// CRLF or LF ends a line; a line starting with a space or tab continues the
// previous one, without that first character.
// Invalid UTF-8 is replaced after unfolding, since some writers fold inside
// a multi-byte character.
func unfold(data []byte) []numbered {
	s := strings.TrimPrefix(string(data), "\uFEFF")
	var out []numbered
	for i, l := range strings.Split(s, "\n") {
		l = strings.TrimSuffix(l, "\r")
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(out) > 0 {
			out[len(out)-1].text += l[1:]
			continue
		}
		out = append(out, numbered{num: i + 1, text: l})
	}
	for i := range out {
		out[i].text = strings.ToValidUTF8(out[i].text, "\uFFFD")
	}
	return out
}

// parseLine splits a content line; ok is false for blank or broken lines.
// Parameter values may be quoted (RFC 6350 §3.3: DQUOTE may hold ; : ,).
func parseLine(l string) (property, bool) {
	var p property
	i, quoted := 0, false
	for ; i < len(l); i++ {
		c := l[i]
		if c == '"' {
			quoted = !quoted
		}
		if c == ':' && !quoted {
			break
		}
	}
	if i == len(l) || i == 0 {
		return p, false
	}
	head, value := l[:i], l[i+1:]
	parts := splitUnquoted(head, ';')
	name := strings.ToUpper(strings.TrimSpace(parts[0]))
	if dot := strings.LastIndexByte(name, '.'); dot >= 0 { // group.NAME
		name = name[dot+1:]
	}
	p.name, p.value, p.params = name, value, map[string][]string{}
	for _, prm := range parts[1:] {
		k, v, ok := strings.Cut(prm, "=")
		k = strings.ToUpper(strings.TrimSpace(k))
		if !ok { // vCard 2.1: a bare TYPE value ("EMAIL;INTERNET;PREF:")
			k, v = "TYPE", prm
		}
		for _, x := range splitUnquoted(v, ',') {
			p.params[k] = append(p.params[k], strings.Trim(x, `"`))
		}
	}
	if enc := p.params["ENCODING"]; len(enc) > 0 && strings.EqualFold(enc[0], "QUOTED-PRINTABLE") {
		if b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(value))); err == nil {
			p.value = string(b)
		}
	}
	return p, true
}

// splitUnquoted splits s at sep outside double quotes.
func splitUnquoted(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// splitEscaped splits a structured value at unescaped sep (RFC 6350 §3.4).
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescapeText undoes escapeText, and the \: some 3.0 writers add.
func unescapeText(s string) string {
	if !strings.ContainsRune(s, '\\') {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i == len(s)-1 {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n', 'N':
			b.WriteByte('\n')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// fill sets c from a card's properties.
func fill(c *card, props []property) {
	var name string
	var emails, jids []property
	for _, p := range props {
		switch p.name {
		case "FN":
			if c.Name == "" {
				c.Name = strings.TrimSpace(unescapeText(p.value))
			}
		case "N":
			if name == "" {
				name = structuredName(p.value)
			}
		case "EMAIL":
			emails = append(emails, p)
		case "IMPP":
			if jidOfURI(strings.TrimSpace(p.value)) != "" {
				jids = append(jids, p)
			}
		case "X-JABBER", "X-JABBER-ID", "X-XMPP":
			p.value = "xmpp:" + strings.TrimSpace(unescapeText(p.value))
			jids = append(jids, p)
		case "NOTE":
			if c.Note == "" {
				c.Note = strings.TrimSpace(unescapeText(p.value))
			}
		}
	}
	if c.Name == "" {
		c.Name = name
	}
	if e := preferred(emails); e != nil {
		c.Email = strings.TrimSpace(unescapeText(e.value))
		if rest, ok := cutPrefixFold(c.Email, "mailto:"); ok {
			c.Email = rest
		}
	}
	if j := preferred(jids); j != nil {
		c.JID = jidOfURI(strings.TrimSpace(j.value))
	}
	// writeVCards names a nameless contact by its address: undo that.
	if strings.EqualFold(c.Name, c.Email) && c.Email != "" || strings.EqualFold(c.Name, c.JID) && c.JID != "" {
		c.Name = ""
	}
}

// structuredName turns N (family;given;additional;prefixes;suffixes) into
// "prefixes given additional family suffixes".
func structuredName(v string) string {
	parts := splitEscaped(v, ';')
	for len(parts) < 5 {
		parts = append(parts, "")
	}
	var words []string
	for _, i := range []int{3, 1, 2, 0, 4} {
		for _, w := range splitEscaped(parts[i], ',') {
			if w = strings.TrimSpace(unescapeText(w)); w != "" {
				words = append(words, w)
			}
		}
	}
	return strings.Join(words, " ")
}

// preferred picks the property a card prefers: lowest PREF (4.0, RFC 6350
// §5.3), else TYPE=pref (3.0, RFC 2426 §3.3.2), else the first.
func preferred(ps []property) *property {
	if len(ps) == 0 {
		return nil
	}
	rank := func(p property) int {
		if v := p.params["PREF"]; len(v) > 0 {
			if n, err := strconv.Atoi(v[0]); err == nil && n >= 1 && n <= 100 {
				return n
			}
		}
		for _, t := range p.params["TYPE"] {
			if strings.EqualFold(t, "pref") {
				return 1
			}
		}
		return 101
	}
	best := 0
	for j := range ps {
		if rank(ps[j]) < rank(ps[best]) {
			best = j
		}
	}
	return &ps[best]
}
