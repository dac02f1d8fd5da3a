package filterui

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Model is what the rule editor manages: the out-of-office reply (run
// first, so it answers even mail a later rule discards) and the rules in
// order.
type Model struct {
	Vacation *Vacation
	Rules    []Rule
}

// Rule is one "if these conditions, do these actions" of the editor.
type Rule struct {
	Name       string      `json:"name"`
	Enabled    bool        `json:"enabled"`
	Any        bool        `json:"any,omitempty"` // match any condition instead of all
	Conditions []Condition `json:"conditions,omitempty"`
	Actions    []Action    `json:"actions"`
}

// Condition fields.
const (
	FieldFrom     = "from"
	FieldTo       = "to"
	FieldSubject  = "subject"
	FieldHeader   = "header"   // Condition.Header names the field
	FieldContacts = "contacts" // the sender is (or, with OpIsNot, is not) in the address book
)

// Condition operators.
const (
	OpContains    = "contains"
	OpIs          = "is"
	OpNotContains = "not-contains"
	OpIsNot       = "not-is"
)

// Condition is one test of a rule.
type Condition struct {
	Field  string `json:"field"`
	Header string `json:"header,omitempty"`
	Op     string `json:"op"`
	Value  string `json:"value,omitempty"`
}

// Action kinds.
const (
	ActRead     = "read"     // addflag "\\Seen"
	ActFlag     = "flag"     // addflag "\\Flagged"
	ActFileinto = "fileinto" // Action.Folder
	ActRedirect = "redirect" // Action.Address, Action.Copy
	ActNotify   = "notify"   // Action.Address: the user's own JID
	ActDiscard  = "discard"
	ActStop     = "stop"
)

// actionOrder is the order actions run in within a rule: flags first so
// they apply to the copies filed after them (RFC 5232 §3), stop last.
var actionOrder = []string{ActRead, ActFlag, ActFileinto, ActRedirect, ActNotify, ActDiscard, ActStop}

// Action is one thing a rule does.
type Action struct {
	Kind    string `json:"kind"`
	Folder  string `json:"folder,omitempty"`
	Address string `json:"address,omitempty"`
	Copy    bool   `json:"copy,omitempty"`
}

// Vacation is the out-of-office reply (RFC 5230).
type Vacation struct {
	Enabled      bool   `json:"enabled"`
	Subject      string `json:"subject,omitempty"`
	Message      string `json:"message"`
	Days         int    `json:"days"`
	ContactsOnly bool   `json:"contacts_only,omitempty"`
}

// Limits of the editor's forms.
const (
	maxConditions = 20
	maxActions    = 10
	maxRules      = 200
	maxNameLen    = 100
	maxValueLen   = 1000
	maxMessageLen = 10000
	minDays       = 1 // RFC 5230 §4.1: at least one day
	maxDays       = 365
	defaultDays   = 7 // RFC 5230 §4.1
)

// fieldLabels and opLabels name fields and operators for people.
var fieldLabels = map[string]string{FieldFrom: "From", FieldTo: "To", FieldSubject: "Subject", FieldHeader: "Header"}

var opLabels = map[string]string{OpContains: "contains", OpIs: "is", OpNotContains: "does not contain", OpIsNot: "is not"}

// Normalize orders a rule's actions, drops duplicates of the flag-like
// ones and trims text, so that equal rules generate equal scripts.
func (r *Rule) Normalize() {
	r.Name = strings.TrimSpace(r.Name)
	for i := range r.Conditions {
		c := &r.Conditions[i]
		c.Header = strings.TrimSpace(c.Header)
		if c.Field != FieldHeader {
			c.Header = ""
		}
		if c.Field == FieldContacts {
			c.Value = ""
			if c.Op != OpIsNot {
				c.Op = OpIs
			}
		}
	}
	for i := range r.Actions {
		a := &r.Actions[i]
		a.Folder, a.Address = strings.TrimSpace(a.Folder), strings.TrimSpace(a.Address)
		if a.Kind != ActFileinto {
			a.Folder = ""
		}
		if a.Kind != ActRedirect && a.Kind != ActNotify {
			a.Address = ""
		}
		if a.Kind != ActRedirect {
			a.Copy = false
		}
	}
	slices.SortStableFunc(r.Actions, func(a, b Action) int {
		return slices.Index(actionOrder, a.Kind) - slices.Index(actionOrder, b.Kind)
	})
	r.Actions = slices.CompactFunc(r.Actions, func(a, b Action) bool { return a == b })
}

// Validate explains what is wrong with a rule, one message per problem.
func (r *Rule) Validate() []string {
	var errs []string
	if msg := checkLine(r.Name, maxNameLen); msg != "" {
		errs = append(errs, "Rule name: "+msg)
	}
	if r.Name == "" {
		errs = append(errs, "Give the rule a name.")
	}
	if len(r.Conditions) > maxConditions {
		errs = append(errs, fmt.Sprintf("A rule has at most %d conditions.", maxConditions))
	}
	for i, c := range r.Conditions {
		errs = append(errs, c.validate(fmt.Sprintf("Condition %d: ", i+1))...)
	}
	if len(r.Actions) == 0 {
		errs = append(errs, "Choose at least one action.")
	}
	if len(r.Actions) > maxActions {
		errs = append(errs, fmt.Sprintf("A rule has at most %d actions.", maxActions))
	}
	var discard, deliver bool
	for i, a := range r.Actions {
		errs = append(errs, a.validate(fmt.Sprintf("Action %d: ", i+1))...)
		discard = discard || a.Kind == ActDiscard
		deliver = deliver || a.Kind == ActFileinto || a.Kind == ActRedirect
	}
	if discard && deliver {
		errs = append(errs, "Discard deletes the message; it cannot be combined with moving or forwarding it.")
	}
	return errs
}

func (c Condition) validate(at string) []string {
	var errs []string
	switch c.Field {
	case FieldFrom, FieldTo, FieldSubject, FieldHeader:
		if opLabels[c.Op] == "" {
			errs = append(errs, at+"choose an operator.")
		}
		if c.Value == "" {
			errs = append(errs, at+"enter a value to compare with.")
		} else if msg := checkLine(c.Value, maxValueLen); msg != "" {
			errs = append(errs, at+"the value "+msg)
		}
	case FieldContacts:
		if c.Op != OpIs && c.Op != OpIsNot {
			errs = append(errs, at+"choose an operator.")
		}
	default:
		errs = append(errs, at+"choose a field.")
	}
	if c.Field == FieldHeader && !validFieldName(c.Header) {
		errs = append(errs, at+"the header name must be a field name such as List-Id or X-Spam-Flag (letters, digits and dashes; no spaces or colons).")
	}
	return errs
}

func (a Action) validate(at string) []string {
	switch a.Kind {
	case ActFileinto:
		if a.Folder == "" {
			return []string{at + "choose a folder."}
		}
		if msg := checkLine(a.Folder, maxValueLen); msg != "" {
			return []string{at + "the folder name " + msg}
		}
	case ActRedirect:
		if !validAddress(a.Address) {
			return []string{at + "enter the address to forward to, such as someone@example.org."}
		}
	case ActNotify:
		if !validAddress(a.Address) {
			return []string{at + "your account has no XMPP address to notify."}
		}
	case ActRead, ActFlag, ActDiscard, ActStop:
	default:
		return []string{at + "choose an action."}
	}
	return nil
}

// Normalize trims the reply's texts.
func (v *Vacation) Normalize() {
	v.Subject = strings.TrimSpace(v.Subject)
	v.Message = strings.TrimRight(normalizeNewlines(v.Message), " \t\n")
}

// Validate explains what is wrong with the reply.
func (v *Vacation) Validate() []string {
	var errs []string
	if msg := checkLine(v.Subject, maxValueLen); msg != "" {
		errs = append(errs, "Subject: "+msg)
	}
	if v.Enabled && strings.TrimSpace(v.Message) == "" {
		errs = append(errs, "Write the message people get while you are away.")
	}
	if !utf8.ValidString(v.Message) || strings.ContainsFunc(v.Message, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\t'
	}) {
		errs = append(errs, "Message: contains control characters.")
	}
	if len(v.Message) > maxMessageLen {
		errs = append(errs, fmt.Sprintf("Message: at most %d characters.", maxMessageLen))
	}
	if v.Days < minDays || v.Days > maxDays {
		errs = append(errs, fmt.Sprintf("Reply at most every %d to %d days.", minDays, maxDays))
	}
	return errs
}

// checkLine returns why s is not an acceptable one-line value, or "".
func checkLine(s string, max int) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8."
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == 0x2028 || r == 0x2029 }):
		return "cannot contain line breaks or control characters."
	case len(s) > max:
		return fmt.Sprintf("is longer than %d characters.", max)
	}
	return ""
}

// validFieldName: printable US-ASCII but colon (RFC 5322 §3.6.8), as the
// engine checks header names.
func validFieldName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == ':' {
			return false
		}
	}
	return true
}

// validAddress accepts a bare addr-spec, as the engine does for redirect.
func validAddress(s string) bool {
	if s == "" || len(s) > 254 || strings.ContainsAny(s, "<>\"\\ \t\r\n") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

func normalizeNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// Summary describes a rule's conditions for the rule list.
func (r Rule) Summary() string {
	if len(r.Conditions) == 0 {
		return "every message"
	}
	parts := make([]string, len(r.Conditions))
	for i, c := range r.Conditions {
		parts[i] = c.String()
	}
	if r.Any {
		return strings.Join(parts, ", or ")
	}
	return strings.Join(parts, ", and ")
}

// String describes a condition for people.
func (c Condition) String() string {
	switch c.Field {
	case FieldContacts:
		if c.Op == OpIsNot {
			return "the sender is not in my contacts"
		}
		return "the sender is in my contacts"
	case FieldHeader:
		return fmt.Sprintf("%s %s %q", c.Header, opLabels[c.Op], c.Value)
	}
	return fmt.Sprintf("%s %s %q", fieldLabels[c.Field], opLabels[c.Op], c.Value)
}

// ActionSummary describes a rule's actions for the rule list.
func (r Rule) ActionSummary() string {
	parts := make([]string, len(r.Actions))
	for i, a := range r.Actions {
		parts[i] = a.String()
	}
	return strings.Join(parts, "; ")
}

// String describes an action for people.
func (a Action) String() string {
	switch a.Kind {
	case ActRead:
		return "mark as read"
	case ActFlag:
		return "flag"
	case ActFileinto:
		return "move to " + a.Folder
	case ActRedirect:
		if a.Copy {
			return "forward to " + a.Address + " (keep a copy)"
		}
		return "forward to " + a.Address
	case ActNotify:
		return "notify me over XMPP (" + a.Address + ")"
	case ActDiscard:
		return "discard"
	case ActStop:
		return "stop processing rules"
	}
	return a.Kind
}
