// Package filterui is the webmail's filter section: a rule editor that
// writes Sieve and reads back what it wrote, a raw Sieve editor with
// line:column errors, and an out-of-office form.
//
// The editor manages one script, [ScriptName] ("tidings"). It keeps its
// model in the script itself, as one "# rule: {json}" comment per rule
// (and "# vacation: {json}" for the out-of-office reply) followed by the
// Sieve the rule generates, so nothing but the script store holds filter
// state and a ManageSieve client sees the same script the browser edits.
// Reading parses those comments and regenerates the script: when that does
// not reproduce the stored text, the script was edited by hand, and the
// editor says so and overwrites it only when asked ("Replace with rules").
//
// Saving stores the script through filters.Scripts.Put, which compiles it
// with the engine (filters/sieve), and activates it unless the user made
// another script active (over ManageSieve or the raw editor); the rule
// list then says the rules are not in effect and offers to switch.
//
// Every form carries the script's revision (a hash of its text): a form
// loaded before the script changed elsewhere is refused, not applied to
// rules that moved.
package filterui

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/webmail/web"
)

//go:embed templates
var templates embed.FS

type section struct {
	a  *web.App
	ps *web.Pages
}

// Mount registers the section's handlers.
func Mount(a *web.App) error {
	if a.Scripts == nil {
		return errors.New("filterui: the webmail has no script store")
	}
	ps, err := a.Templates(templates, "templates/*.html")
	if err != nil {
		return err
	}
	s := &section{a: a, ps: ps}
	a.Page("GET /filters/{$}", s.index)
	a.Page("POST /filters/activate", s.activate)
	a.Page("POST /filters/replace", s.replace)
	a.Page("GET /filters/rules/new", s.newRule)
	a.Page("GET /filters/rules/{n}", s.editRule)
	a.Page("POST /filters/rules", s.createRule)
	a.Page("POST /filters/rules/{n}", s.updateRule)
	a.Page("POST /filters/rules/{n}/delete", s.deleteRule)
	a.Page("POST /filters/rules/{n}/up", s.moveRule(-1))
	a.Page("POST /filters/rules/{n}/down", s.moveRule(+1))
	a.Page("GET /filters/raw", s.rawForm)
	a.Page("POST /filters/raw", s.rawSave)
	a.Page("POST /filters/raw/delete", s.rawDelete)
	a.Page("POST /filters/raw/activate", s.rawActivate)
	a.Page("GET /filters/vacation", s.vacationForm)
	a.Page("POST /filters/vacation", s.vacationSave)
	return nil
}

// state is the user's scripts as the editor sees them.
type state struct {
	Src        string // the "tidings" script, "" if there is none
	Exists     bool
	Model      Model
	HandEdited bool
	Rev        string
	Scripts    []filters.ScriptInfo
	Active     string // the active script's name, "" if none
}

// ActiveOther is the name of the active script when it is not ours.
func (st *state) ActiveOther() string {
	if st.Active == ScriptName {
		return ""
	}
	return st.Active
}

func (s *section) load(ctx context.Context, userID int64) (*state, error) {
	st := &state{}
	var err error
	if st.Scripts, err = s.a.Scripts.List(ctx, userID); err != nil {
		return nil, err
	}
	for _, si := range st.Scripts {
		if si.Active {
			st.Active = si.Name
		}
		if si.Name == ScriptName {
			st.Exists = true
		}
	}
	if st.Exists {
		if st.Src, err = s.a.Scripts.Get(ctx, userID, ScriptName); err != nil && !errors.Is(err, filters.ErrNoScript) {
			return nil, err
		}
	}
	st.Model, st.HandEdited = Read(st.Src)
	st.Rev = revision(st.Exists, st.Src)
	return st, nil
}

// revision names one version of the script for the forms.
func revision(exists bool, src string) string {
	if !exists {
		return "none"
	}
	h := sha256.Sum256([]byte(src))
	return hex.EncodeToString(h[:12])
}

// errStale and errHandEdited are refusals the forms show with the input
// kept.
var (
	errStale = errors.New("Your filters changed since this page was loaded (in another window or by a Sieve client). " +
		"Check the rules and save again.")
	errHandEdited = errors.New(`This script was edited by hand; use the raw editor, or choose "Replace with rules" to overwrite it with the rules shown here.`)
)

// checkWrite refuses a form made for another revision, and a write over a
// hand-edited script without the explicit "Replace with rules".
func checkWrite(st *state, r *http.Request) error {
	if r.PostFormValue("rev") != st.Rev {
		return errStale
	}
	if st.HandEdited && r.PostFormValue("replace") != "yes" {
		return errHandEdited
	}
	return nil
}

// save stores m as the "tidings" script and activates it unless another
// script is active. It returns the flash text.
func (s *section) save(ctx context.Context, c *web.Ctx, st *state, m Model, done string) (string, error) {
	for i := range m.Rules {
		for j := range m.Rules[i].Actions {
			if m.Rules[i].Actions[j].Kind == ActNotify {
				m.Rules[i].Actions[j].Address = c.User.JID()
			}
		}
	}
	if err := s.a.Scripts.Put(ctx, c.User.ID, ScriptName, Generate(m)); err != nil {
		return "", err
	}
	if other := st.ActiveOther(); other != "" {
		return fmt.Sprintf("%s Your rules are not in effect: the script %q is active.", done, other), nil
	}
	if st.Active == "" {
		if err := s.a.Scripts.Activate(ctx, c.User.ID, ScriptName); err != nil {
			return "", err
		}
	}
	return done, nil
}

// saveError turns a store refusal into a message for the form, or nil for
// errors that are the server's.
func saveError(err error) string {
	switch ce := compileError(err); {
	case errors.Is(err, filters.ErrScriptTooBig):
		return "The rules make a script larger than the server allows (" + err.Error() + "). Remove some rules."
	case errors.Is(err, filters.ErrTooManyScripts):
		return "You have as many scripts as the server allows; delete one in the raw editor first."
	case ce != nil:
		return "The generated script does not compile: " + ce.Error()
	}
	return ""
}

type indexData struct {
	St    *state
	Rules []ruleRow
}

type ruleRow struct {
	N     int
	Rule  Rule
	First bool
	Last  bool
}

func (s *section) index(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	c.Nav = "filters"
	st, err := s.load(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	d := indexData{St: st}
	for i, rule := range st.Model.Rules {
		d.Rules = append(d.Rules, ruleRow{N: i + 1, Rule: rule, First: i == 0, Last: i == len(st.Model.Rules)-1})
	}
	return c.Render(w, s.ps, "index.html", "Filters", d)
}

// activate makes the "tidings" script (the rules) the active one.
func (s *section) activate(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	st, err := s.load(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	if !st.Exists {
		if _, err := s.save(r.Context(), c, st, st.Model, ""); err != nil {
			return err
		}
	}
	if err := s.a.Scripts.Activate(r.Context(), c.User.ID, ScriptName); err != nil {
		return err
	}
	return c.Redirect(w, r, "/filters/", "Your rules are now in effect.")
}

// replace rewrites a hand-edited script from the rules read back from it.
func (s *section) replace(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	st, err := s.load(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	if r.PostFormValue("rev") != st.Rev {
		return web.Errorf(http.StatusConflict, "%s", errStale.Error())
	}
	flash, err := s.save(r.Context(), c, st, st.Model, "The script was rewritten from the rules.")
	if err != nil {
		if msg := saveError(err); msg != "" {
			return web.Errorf(http.StatusUnprocessableEntity, "%s", msg)
		}
		return err
	}
	return c.Redirect(w, r, "/filters/", flash)
}

// ruleIndex reads the 1-based rule number of the path.
func ruleIndex(r *http.Request, st *state) (int, error) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > len(st.Model.Rules) {
		return 0, web.NotFound
	}
	return n - 1, nil
}
