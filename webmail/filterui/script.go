package filterui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// ScriptName is the one script the webmail manages and activates.
const ScriptName = "tidings"

// Comment prefixes that carry the model in the script.
const (
	rulePrefix     = "# rule: "
	vacationPrefix = "# vacation: "
)

// header opens every generated script.
const header = `# Filters of the Tidings webmail (Filters page), generated from the rules
# in the "# rule:" and "# vacation:" comments, which the webmail reads back.
# A script edited by hand is no longer read back: the rule editor says so
# and does not overwrite it without being asked.
`

// addrbook is the user's address book for extlists (RFC 6134 §2.6): the
// engine expands it to urn:ietf:params:sieve:addrbook:default, and
// filters answers it from the contacts and the XMPP roster.
const addrbook = ":addrbook:default"

// Generate writes m as a Sieve script. Equal models give equal scripts, so
// Read can tell whether a script was edited by hand.
func Generate(m Model) string {
	var b strings.Builder
	b.WriteString(header)
	if req := requires(m); len(req) > 0 {
		b.WriteString("require [")
		for i, r := range req {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(r))
		}
		b.WriteString("];\n")
	}
	if v := m.Vacation; v != nil {
		b.WriteString("\n" + vacationPrefix + jsonLine(v) + "\n")
		if v.Enabled {
			writeVacation(&b, *v)
		}
	}
	for _, r := range m.Rules {
		b.WriteString("\n" + rulePrefix + jsonLine(r) + "\n")
		if r.Enabled {
			writeRule(&b, r)
		}
	}
	return b.String()
}

// requires lists the extensions the enabled parts of m use, sorted.
func requires(m Model) []string {
	set := map[string]bool{}
	if v := m.Vacation; v != nil && v.Enabled {
		set["vacation"] = true
		set["extlists"] = set["extlists"] || v.ContactsOnly
	}
	for _, r := range m.Rules {
		if !r.Enabled {
			continue
		}
		for _, c := range r.Conditions {
			if c.Field == FieldContacts {
				set["extlists"] = true
			}
		}
		for _, a := range r.Actions {
			switch a.Kind {
			case ActRead, ActFlag:
				set["imap4flags"] = true
			case ActFileinto:
				set["fileinto"] = true
			case ActRedirect:
				set["copy"] = set["copy"] || a.Copy
			case ActNotify:
				set["enotify"] = true
			}
		}
	}
	var out []string
	for k, on := range set {
		if on {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func writeVacation(b *strings.Builder, v Vacation) {
	cmd := fmt.Sprintf("vacation :days %d", v.Days)
	if v.Subject != "" {
		cmd += " :subject " + quote(v.Subject)
	}
	cmd += " " + quote(v.Message) + ";\n"
	if v.ContactsOnly {
		b.WriteString("if " + contactsTest + " {\n    " + cmd + "}\n")
		return
	}
	b.WriteString(cmd)
}

const contactsTest = `address :list "from" "` + addrbook + `"`

func writeRule(b *strings.Builder, r Rule) {
	b.WriteString("if " + ruleTest(r) + " {\n")
	for _, a := range r.Actions {
		b.WriteString("    " + actionCmd(a) + ";\n")
	}
	b.WriteString("}\n")
}

// ruleTest is the rule's test: true without conditions, the one test, or
// allof/anyof of them (RFC 5228 §5.2, §5.3).
func ruleTest(r Rule) string {
	switch len(r.Conditions) {
	case 0:
		return "true"
	case 1:
		return condTest(r.Conditions[0])
	}
	tests := make([]string, len(r.Conditions))
	for i, c := range r.Conditions {
		tests[i] = condTest(c)
	}
	op := "allof"
	if r.Any {
		op = "anyof"
	}
	return op + " (" + strings.Join(tests, ",\n        ") + ")"
}

// condTest is one condition's test. "is" on From and To compares the
// address (so "Romeo <romeo@…>" is romeo@…); "contains" reads the whole
// field, display name included.
func condTest(c Condition) string {
	var t string
	neg := c.Op == OpNotContains || c.Op == OpIsNot
	match := ":contains"
	if c.Op == OpIs || c.Op == OpIsNot {
		match = ":is"
	}
	switch c.Field {
	case FieldContacts:
		t = contactsTest
	case FieldFrom, FieldTo:
		if match == ":is" {
			t = "address :is " + quote(c.Field) + " " + quote(c.Value)
		} else {
			t = "header :contains " + quote(c.Field) + " " + quote(c.Value)
		}
	case FieldSubject:
		t = "header " + match + ` "subject" ` + quote(c.Value)
	default:
		t = "header " + match + " " + quote(c.Header) + " " + quote(c.Value)
	}
	if neg {
		return "not " + t
	}
	return t
}

func actionCmd(a Action) string {
	switch a.Kind {
	case ActRead:
		return `addflag "\\Seen"`
	case ActFlag:
		return `addflag "\\Flagged"`
	case ActFileinto:
		return "fileinto " + quote(a.Folder)
	case ActRedirect:
		if a.Copy {
			return "redirect :copy " + quote(a.Address)
		}
		return "redirect " + quote(a.Address)
	case ActNotify:
		return "notify " + quote(xmppURI(a.Address))
	case ActDiscard:
		return "discard"
	}
	return "stop"
}

// quote is a Sieve quoted string (RFC 5228 §2.4.2): backslash and double
// quote escaped, everything else (line breaks too) as is. The scripts
// require neither variables nor encoded-character, so "${" is literal.
func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

// xmppURI is the xmpp: URI of a bare JID (RFC 5122 §2): characters outside
// the URI set are percent-encoded.
func xmppURI(jid string) string {
	const safe = "-._~!$&'()*+,;=:@"
	var b strings.Builder
	b.WriteString("xmpp:")
	for i := 0; i < len(jid); i++ {
		c := jid[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// jsonLine is v as one line of JSON: encoding/json escapes every control
// character (and U+2028/U+2029), so the comment never spans lines.
func jsonLine(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // plain structs of strings, bools and ints
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// Read parses a script the editor wrote back into its model. handEdited
// is true when src is not exactly what Generate writes for that model
// (someone changed it with the raw editor or a ManageSieve client); the
// model then holds whatever rule comments could be read. An empty src is
// an empty model.
func Read(src string) (m Model, handEdited bool) {
	if src == "" {
		return m, false
	}
	bad := false
	for _, c := range comments(src) {
		switch {
		case strings.HasPrefix(c, rulePrefix):
			var r Rule
			if err := strictJSON(c[len(rulePrefix):], &r); err != nil {
				bad = true
				continue
			}
			m.Rules = append(m.Rules, r)
		case strings.HasPrefix(c, vacationPrefix):
			var v Vacation
			if err := strictJSON(c[len(vacationPrefix):], &v); err != nil || m.Vacation != nil {
				bad = true
				continue
			}
			m.Vacation = &v
		}
	}
	return m, bad || Generate(m) != src
}

func strictJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// comments returns the "#" comments of src that start a line, without the
// line end. It skips quoted strings, bracket comments and multi-line
// strings (RFC 5228 §2.3, §2.4.2), so a rule value that spans lines can
// never pose as a rule comment.
func comments(src string) []string {
	var out []string
	lineStart := true
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '#':
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				end = len(src) - i
			}
			if lineStart {
				out = append(out, strings.TrimSuffix(src[i:i+end], "\r"))
			}
			i += end
		case c == '"':
			i++
			for i < len(src) && src[i] != '"' {
				if src[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += end + 4
		case (c == 't' || c == 'T') && strings.HasPrefix(strings.ToLower(src[i:]), "text:") && (i == 0 || !isIdent(src[i-1])):
			// Up to a line holding a single ".".
			j := strings.Index(src[i:], "\n.\n")
			k := strings.Index(src[i:], "\n.\r\n")
			switch {
			case j < 0 && k < 0:
				return out
			case j < 0 || k >= 0 && k < j:
				i += k + 4
			default:
				i += j + 3
			}
			lineStart = true
			continue
		default:
			i++
		}
		lineStart = i > 0 && i <= len(src) && src[i-1] == '\n'
	}
	return out
}

func isIdent(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
