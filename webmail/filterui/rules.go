package filterui

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tidings/tidings/webmail/web"
)

// option is one <option> of a select.
type option struct{ Value, Label string }

// Form field values of a condition row's field select: FieldContacts with
// OpIsNot is its own choice, "notcontacts".
const formNotContacts = "notcontacts"

var (
	fieldOptions = []option{{"", "(no condition)"}, {FieldFrom, "From"}, {FieldTo, "To"}, {FieldSubject, "Subject"},
		{FieldHeader, "Header named…"}, {FieldContacts, "Sender is in my contacts"}, {formNotContacts, "Sender is not in my contacts"}}
	opOptions     = []option{{OpContains, "contains"}, {OpIs, "is"}, {OpNotContains, "does not contain"}, {OpIsNot, "is not"}}
	actionOptions = []option{{"", "(no action)"}, {ActFileinto, "Move to folder"}, {ActRead, "Mark as read"}, {ActFlag, "Flag"},
		{ActRedirect, "Forward to"}, {ActDiscard, "Discard"}, {ActNotify, "Notify me over XMPP"}, {ActStop, "Stop processing more rules"}}
)

// Rows shown beyond the rule's own, and the fewest shown.
const minCondRows, minActRows = 2, 2

type ruleForm struct {
	N          int    // 1-based; 0 for a new rule
	Post       string // the form's action
	Rule       Rule
	Conds      []condRow
	Acts       []actRow
	Folders    []string
	Errors     []string
	HandEdited bool
	Rev        string
	JID        string
	Active     string // another active script's name

	FieldOptions, OpOptions, ActionOptions []option
}

type condRow struct {
	I                        int // 0-based row
	Field, Header, Op, Value string
}

type actRow struct {
	I                     int
	Kind, Folder, Address string
	Copy                  bool
}

func (s *section) ruleForm(r *http.Request, c *web.Ctx, st *state, n int, rule Rule, nc, na int) (*ruleForm, error) {
	boxes, err := s.a.Store.Mailboxes(r.Context(), c.User.ID)
	if err != nil {
		return nil, err
	}
	f := &ruleForm{N: n, Post: "/filters/rules", Rule: rule, HandEdited: st.HandEdited, Rev: st.Rev, JID: c.User.JID(),
		Active: st.ActiveOther(), FieldOptions: fieldOptions, OpOptions: opOptions, ActionOptions: actionOptions}
	if n > 0 {
		f.Post = fmt.Sprintf("/filters/rules/%d", n)
	}
	f.Folders = []string{"INBOX"} // the store creates it on first delivery
	for _, b := range boxes {
		if b.Name != "INBOX" {
			f.Folders = append(f.Folders, b.Name)
		}
	}
	for _, a := range rule.Actions {
		if a.Kind == ActFileinto && !slices.Contains(f.Folders, a.Folder) {
			f.Folders = append(f.Folders, a.Folder) // a folder deleted since: keep it choosable
		}
	}
	nc = max(nc, len(rule.Conditions)+1, minCondRows)
	na = max(na, len(rule.Actions)+1, minActRows)
	for i := range min(nc, maxConditions) {
		row := condRow{I: i, Op: OpContains}
		if i < len(rule.Conditions) {
			cd := rule.Conditions[i]
			row.Field, row.Header, row.Op, row.Value = cd.Field, cd.Header, cd.Op, cd.Value
			if cd.Field == FieldContacts && cd.Op == OpIsNot {
				row.Field, row.Op = formNotContacts, OpContains
			}
		}
		f.Conds = append(f.Conds, row)
	}
	for i := range min(na, maxActions) {
		row := actRow{I: i}
		if i < len(rule.Actions) {
			a := rule.Actions[i]
			row.Kind, row.Folder, row.Address, row.Copy = a.Kind, a.Folder, a.Address, a.Copy
		}
		f.Acts = append(f.Acts, row)
	}
	return f, nil
}

// render shows the rule form; with errors, status is 422 unless given.
func (s *section) render(w http.ResponseWriter, c *web.Ctx, f *ruleForm, status ...int) error {
	c.Nav = "filters"
	title := "New rule"
	if f.N > 0 {
		title = "Edit rule"
	}
	switch {
	case len(status) > 0:
		c.Status(status[0])
	case len(f.Errors) > 0:
		c.Status(http.StatusUnprocessableEntity)
	}
	return c.Render(w, s.ps, "rule.html", title, f)
}

func (s *section) newRule(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	st, err := s.load(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	f, err := s.ruleForm(r, c, st, 0, Rule{Enabled: true}, 0, 0)
	if err != nil {
		return err
	}
	return s.render(w, c, f)
}

func (s *section) editRule(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	st, err := s.load(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	i, err := ruleIndex(r, st)
	if err != nil {
		return err
	}
	f, err := s.ruleForm(r, c, st, i+1, st.Model.Rules[i], 0, 0)
	if err != nil {
		return err
	}
	return s.render(w, c, f)
}

func (s *section) createRule(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	return s.saveRule(w, r, c, 0)
}

func (s *section) updateRule(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	st, err := s.load(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	i, err := ruleIndex(r, st)
	if err != nil {
		return err
	}
	return s.saveRule(w, r, c, i+1)
}

// saveRule handles the rule form: "Add condition" and "Add action"
// re-render it with one more row; otherwise the rule is checked and
// written as rule n (0: appended).
func (s *section) saveRule(w http.ResponseWriter, r *http.Request, c *web.Ctx, n int) error {
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	st, err := s.load(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	rule, nc, na := parseRule(r, c.User.JID())
	switch r.PostFormValue("op") {
	case "add-condition":
		nc++
	case "add-action":
		na++
	}
	f, err := s.ruleForm(r, c, st, n, rule, nc, na)
	if err != nil {
		return err
	}
	if op := r.PostFormValue("op"); op == "add-condition" || op == "add-action" {
		f.Rev = r.PostFormValue("rev") // keep the revision the form was made for
		return s.render(w, c, f)
	}
	if f.Errors = rule.Validate(); len(f.Errors) > 0 {
		f.Rev = r.PostFormValue("rev")
		return s.render(w, c, f)
	}
	if err := checkWrite(st, r); err != nil {
		f.Errors = []string{err.Error()}
		return s.render(w, c, f, http.StatusConflict)
	}
	m := st.Model
	m.Rules = slices.Clone(m.Rules)
	done := fmt.Sprintf(`Rule "%s" saved.`, rule.Name)
	if n == 0 {
		if len(m.Rules) >= maxRules {
			f.Errors = []string{fmt.Sprintf("You have %d rules, as many as the editor keeps.", maxRules)}
			return s.render(w, c, f)
		}
		m.Rules = append(m.Rules, rule)
	} else {
		m.Rules[n-1] = rule
	}
	flash, err := s.save(r.Context(), c, st, m, done)
	if err != nil {
		if msg := saveError(err); msg != "" {
			f.Errors = []string{msg}
			return s.render(w, c, f)
		}
		return err
	}
	return c.Redirect(w, r, "/filters/", flash)
}

// parseRule reads the rule form. Blank rows are dropped; a row with a
// value but no field or kind stays, so Validate names it.
func parseRule(r *http.Request, jid string) (rule Rule, nc, na int) {
	v := func(k string) string { return r.PostFormValue(k) }
	rule.Name = v("name")
	rule.Enabled = v("enabled") != ""
	rule.Any = v("match") == "any"
	nc = min(atoi(v("nc")), maxConditions)
	na = min(atoi(v("na")), maxActions)
	for i := range nc {
		p := "c" + strconv.Itoa(i)
		cd := Condition{Field: v(p + "f"), Header: v(p + "h"), Op: v(p + "o"), Value: v(p + "v")}
		switch cd.Field {
		case "":
			if cd.Value == "" && strings.TrimSpace(cd.Header) == "" {
				continue
			}
		case FieldContacts:
			cd.Op = OpIs
		case formNotContacts:
			cd.Field, cd.Op = FieldContacts, OpIsNot
		}
		rule.Conditions = append(rule.Conditions, cd)
	}
	for i := range na {
		p := "a" + strconv.Itoa(i)
		a := Action{Kind: v(p + "k"), Folder: v(p + "f"), Address: v(p + "a"), Copy: v(p+"c") != ""}
		if a.Kind == "" && strings.TrimSpace(a.Address) == "" {
			continue
		}
		rule.Actions = append(rule.Actions, a)
	}
	rule.Normalize()
	for i := range rule.Actions {
		if rule.Actions[i].Kind == ActNotify {
			rule.Actions[i].Address = jid
		}
	}
	return rule, nc, na
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func (s *section) deleteRule(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	return s.changeRules(w, r, c, func(rules []Rule, i int) ([]Rule, string) {
		return slices.Delete(rules, i, i+1), fmt.Sprintf(`Rule "%s" deleted.`, rules[i].Name)
	})
}

func (s *section) moveRule(by int) web.Handler {
	return func(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
		return s.changeRules(w, r, c, func(rules []Rule, i int) ([]Rule, string) {
			j := i + by
			if j < 0 || j >= len(rules) {
				return rules, ""
			}
			rules[i], rules[j] = rules[j], rules[i]
			return rules, fmt.Sprintf(`Rule "%s" moved.`, rules[j].Name)
		})
	}
}

// changeRules applies a list change (delete, move) to rule n of the path.
func (s *section) changeRules(w http.ResponseWriter, r *http.Request, c *web.Ctx, change func([]Rule, int) ([]Rule, string)) error {
	st, err := s.load(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	i, err := ruleIndex(r, st)
	if err != nil {
		return err
	}
	if err := checkWrite(st, r); err != nil {
		return web.Errorf(http.StatusConflict, "%s", err.Error())
	}
	m := st.Model
	var done string
	m.Rules, done = change(slices.Clone(m.Rules), i)
	if done == "" {
		return c.Redirect(w, r, "/filters/", "")
	}
	flash, err := s.save(r.Context(), c, st, m, done)
	if err != nil {
		if msg := saveError(err); msg != "" {
			return web.Errorf(http.StatusUnprocessableEntity, "%s", msg)
		}
		return err
	}
	return c.Redirect(w, r, "/filters/", flash)
}
