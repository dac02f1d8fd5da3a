package filterui

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tidings/tidings/webmail/web"
)

type vacationForm struct {
	V          Vacation
	Days       string // as typed, kept when invalid
	Errors     []string
	HandEdited bool
	Rev        string
	Active     string
}

func (s *section) vacationForm(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	st, err := s.load(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	v := Vacation{Days: defaultDays}
	if st.Model.Vacation != nil {
		v = *st.Model.Vacation
	}
	return s.renderVacation(w, c, &vacationForm{V: v, Days: strconv.Itoa(v.Days)}, st, 0)
}

func (s *section) renderVacation(w http.ResponseWriter, c *web.Ctx, f *vacationForm, st *state, status int) error {
	c.Nav = "filters"
	f.HandEdited, f.Active = st.HandEdited, st.ActiveOther()
	if f.Rev == "" {
		f.Rev = st.Rev
	}
	if status != 0 {
		c.Status(status)
	}
	return c.Render(w, s.ps, "vacation.html", "Out of office", f)
}

// vacationSave writes the out-of-office reply into the rules script,
// before every rule.
func (s *section) vacationSave(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	st, err := s.load(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	f := &vacationForm{Days: strings.TrimSpace(r.PostFormValue("days")), Rev: r.PostFormValue("rev")}
	f.V = Vacation{Enabled: r.PostFormValue("enabled") != "", Subject: r.PostFormValue("subject"),
		Message: r.PostFormValue("message"), ContactsOnly: r.PostFormValue("contacts") != ""}
	if f.Days == "" {
		f.V.Days = defaultDays
	} else if f.V.Days, err = strconv.Atoi(f.Days); err != nil {
		f.V.Days = -1
	}
	f.V.Normalize()
	if f.Errors = f.V.Validate(); len(f.Errors) > 0 {
		return s.renderVacation(w, c, f, st, http.StatusUnprocessableEntity)
	}
	if err := checkWrite(st, r); err != nil {
		f.Errors = []string{err.Error()}
		f.Rev = st.Rev
		return s.renderVacation(w, c, f, st, http.StatusConflict)
	}
	m := st.Model
	v := f.V
	m.Vacation = &v
	done := "Out of office is off."
	if v.Enabled {
		done = "Out of office is on."
	}
	flash, err := s.save(r.Context(), c, st, m, done)
	if err != nil {
		if msg := saveError(err); msg != "" {
			f.Errors = []string{msg}
			return s.renderVacation(w, c, f, st, http.StatusUnprocessableEntity)
		}
		return err
	}
	return c.Redirect(w, r, "/filters/", flash)
}
