package filterui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/filters/sieve"
	"github.com/tidings/tidings/webmail/web"
)

type rawData struct {
	Scripts []scriptRow
	Name    string // the script in the editor
	Script  string
	Exists  bool // Name is stored
	Active  bool // Name is the active script
	Ours    bool // Name is the rule editor's script
	Error   string
	ErrLine string // the source line the error points at
	ErrPos  string // "L:C", for filters.js to put the cursor there
}

type scriptRow struct {
	filters.ScriptInfo
	SizeText string
}

// compileError returns the engine's compile error inside err, if any: a
// *sieve.Error or a sieve.ErrorList, whose text is "line L:C: message".
func compileError(err error) error {
	var e *sieve.Error
	if errors.As(err, &e) {
		return e
	}
	var l sieve.ErrorList
	if errors.As(err, &l) && len(l) > 0 {
		return l
	}
	return nil
}

func (s *section) rawForm(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	st, err := s.load(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	var d rawData
	name := r.URL.Query().Get("name")
	switch {
	case r.URL.Query().Has("new"):
	case name != "":
		d.Name = name
		if d.Script, err = s.a.Scripts.Get(r.Context(), c.User.ID, name); errors.Is(err, filters.ErrNoScript) {
			return web.NotFound
		} else if err != nil {
			return err
		}
	case st.Active != "":
		d.Name = st.Active
		if d.Script, err = s.a.Scripts.Get(r.Context(), c.User.ID, st.Active); err != nil {
			return err
		}
	default:
		d.Name = ScriptName
		d.Script = st.Src
	}
	return s.renderRaw(w, c, d, st, 0)
}

func (s *section) renderRaw(w http.ResponseWriter, c *web.Ctx, d rawData, st *state, status int) error {
	c.Nav = "filters"
	d.Scripts = nil
	for _, si := range st.Scripts {
		d.Scripts = append(d.Scripts, scriptRow{ScriptInfo: si, SizeText: web.FormatBytes(int64(si.Size))})
		if si.Name == d.Name {
			d.Exists, d.Active = true, si.Active
		}
	}
	d.Ours = d.Name == ScriptName
	if status != 0 {
		c.Status(status)
	}
	return c.Render(w, s.ps, "raw.html", "Sieve scripts", d)
}

// rawSave stores the editor's script ("Save"), and activates it too
// ("Save and activate"). A script that does not compile is shown again
// with the engine's "line L:C: message" (422).
func (s *section) rawSave(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	r.Body = http.MaxBytesReader(w, r.Body, 2<<20)
	ctx := r.Context()
	d := rawData{Name: strings.TrimSpace(r.PostFormValue("name")), Script: normalizeNewlines(r.PostFormValue("script"))}
	activate := r.PostFormValue("op") == "activate"
	err := s.a.Scripts.Put(ctx, c.User.ID, d.Name, d.Script)
	if err == nil && activate {
		err = s.a.Scripts.Activate(ctx, c.User.ID, d.Name)
	}
	if err != nil {
		if d.Error = rawError(err); d.Error == "" {
			return err
		}
		if ce := new(sieve.Error); errors.As(err, &ce) {
			d.ErrPos = fmt.Sprintf("%d:%d", ce.Line, ce.Col)
			if lines := strings.Split(d.Script, "\n"); ce.Line >= 1 && ce.Line <= len(lines) {
				d.ErrLine = lines[ce.Line-1]
			}
		}
		st, lerr := s.load(ctx, c.User.ID)
		if lerr != nil {
			return lerr
		}
		return s.renderRaw(w, c, d, st, http.StatusUnprocessableEntity)
	}
	flash := fmt.Sprintf("Script %q saved.", d.Name)
	if activate {
		flash = fmt.Sprintf("Script %q saved and active.", d.Name)
	}
	return c.Redirect(w, r, "/filters/raw?name="+urlEscape(d.Name), flash)
}

// rawError is the message for a refused script, or "" for a server error.
func rawError(err error) string {
	switch ce := compileError(err); {
	case ce != nil:
		return ce.Error()
	case errors.Is(err, filters.ErrBadName):
		return "Script name: " + strings.TrimPrefix(err.Error(), filters.ErrBadName.Error()+": ") + "."
	case errors.Is(err, filters.ErrScriptTooBig):
		return "The script is too large: " + strings.TrimPrefix(err.Error(), filters.ErrScriptTooBig.Error()+": ") + "."
	case errors.Is(err, filters.ErrTooManyScripts):
		return "You have as many scripts as the server allows; delete one first."
	}
	return ""
}

func (s *section) rawDelete(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	name := r.PostFormValue("name")
	err := s.a.Scripts.Delete(r.Context(), c.User.ID, name)
	switch {
	case errors.Is(err, filters.ErrNoScript):
		return web.NotFound
	case errors.Is(err, filters.ErrActive):
		return web.Errorf(http.StatusConflict, "The script %q is active; activate another one (or none) before deleting it.", name)
	case err != nil:
		return err
	}
	return c.Redirect(w, r, "/filters/raw", fmt.Sprintf("Script %q deleted.", name))
}

// rawActivate makes the named script active; an empty name deactivates
// every script (no filtering).
func (s *section) rawActivate(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	name := r.PostFormValue("name")
	err := s.a.Scripts.Activate(r.Context(), c.User.ID, name)
	switch {
	case errors.Is(err, filters.ErrNoScript):
		return web.NotFound
	case err != nil:
		return err
	}
	if name == "" {
		return c.Redirect(w, r, "/filters/raw", "No script is active: mail is no longer filtered.")
	}
	return c.Redirect(w, r, "/filters/raw?name="+urlEscape(name), fmt.Sprintf("Script %q is now active.", name))
}

func urlEscape(s string) string { return url.QueryEscape(s) }
