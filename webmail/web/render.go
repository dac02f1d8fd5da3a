package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/tidings/tidings/accounts"
)

//go:embed templates
var coreTemplates embed.FS

//go:embed static
var staticFiles embed.FS

// layoutTemplates are parsed into every module's page set.
var layoutTemplates = []string{"templates/layout.html"}

// Pages is a module's parsed templates: one template set per page file,
// each with the shared layout. Parse them once, at Mount, with
// App.Templates.
type Pages struct {
	sets map[string]*template.Template
}

// Funcs are the template functions every page has.
var Funcs = template.FuncMap{
	"bytes":    FormatBytes,
	"date":     FormatDate,
	"datetime": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04") },
	"isodate":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"add":      func(a, b int) int { return a + b },
	"sub":      func(a, b int) int { return a - b },
	"domain":   accounts.DomainUnicode,
	"join":     strings.Join,
	"contains": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
}

// Templates parses the page files matching patterns in fsys, each with the
// layout. A page file (*.html) defines "content" (the page body) and may
// define "head" and fragments rendered alone with Ctx.Fragment. Files
// ending in .tmpl are the section's shared templates (its menu, its
// stylesheet link, partials): they are parsed into every page's set, before
// the page, so a page may use and override them.
func (a *App) Templates(fsys fs.FS, patterns ...string) (*Pages, error) {
	base, err := template.New("").Funcs(Funcs).ParseFS(coreTemplates, layoutTemplates...)
	if err != nil {
		return nil, fmt.Errorf("webmail layout: %w", err)
	}
	var pageFiles []string
	for _, p := range patterns {
		files, err := fs.Glob(fsys, p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			switch name := path.Base(f); {
			case strings.HasSuffix(name, ".tmpl"):
				if _, err := base.ParseFS(fsys, f); err != nil {
					return nil, fmt.Errorf("webmail template %s: %w", f, err)
				}
			case name != "layout.html":
				pageFiles = append(pageFiles, f)
			}
		}
	}
	ps := &Pages{sets: map[string]*template.Template{}}
	for _, f := range pageFiles {
		t, err := template.Must(base.Clone()).ParseFS(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("webmail template %s: %w", f, err)
		}
		ps.sets[path.Base(f)] = t
	}
	return ps, nil
}

// View is what every page template gets as its dot.
type View struct {
	Title    string
	User     accounts.User // zero on the login page
	CSRF     string
	Flash    string
	Nav      string // the section the page belongs to, for the menu
	Hostname string
	Data     any
}

// view is a template's dot; full pages (not fragments) show the flash.
func (c *Ctx) view(title string, data any, full bool) View {
	v := View{Title: title, User: c.User, CSRF: c.CSRF, Nav: c.Nav, Data: data}
	if full {
		v.Flash = c.flash
	}
	if c.app != nil {
		v.Hostname = c.app.Hostname
	}
	return v
}

// Render writes page (a file name given to App.Templates) in the layout.
func (c *Ctx) Render(w http.ResponseWriter, ps *Pages, page, title string, data any) error {
	return c.render(w, ps, page, title, data)
}

func (c *Ctx) render(w http.ResponseWriter, ps *Pages, page, title string, data any) error {
	t, ok := ps.sets[page]
	if !ok {
		return fmt.Errorf("no template %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", c.view(title, data, true)); err != nil {
		return fmt.Errorf("template %s: %w", page, err)
	}
	if c.flash != "" {
		setCookie(w, flashCookie, "", -1) // shown now
	}
	return c.write(w, "text/html; charset=utf-8", buf.Bytes())
}

// Fragment writes one named template of page without the layout (for htmx
// swaps). Its dot is a View like a page's.
func (c *Ctx) Fragment(w http.ResponseWriter, ps *Pages, page, name string, data any) error {
	t, ok := ps.sets[page]
	if !ok {
		return fmt.Errorf("no template %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, c.view("", data, false)); err != nil {
		return fmt.Errorf("template %s/%s: %w", page, name, err)
	}
	return c.write(w, "text/html; charset=utf-8", buf.Bytes())
}

func (c *Ctx) write(w http.ResponseWriter, ctype string, b []byte) error {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-store")
	if c.status != 0 {
		w.WriteHeader(c.status)
	}
	_, err := w.Write(b)
	return err
}

// FormatBytes gives a size for people: 512 B, 4.2 KiB, 1.3 MiB.
func FormatBytes(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// FormatDate gives a list date: the time today, the day this year, else
// the full date.
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.Local()
	now := time.Now()
	switch {
	case t.YearDay() == now.YearDay() && t.Year() == now.Year():
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("Jan 2")
	}
	return t.Format("2006-01-02")
}

// serveStatic serves the embedded assets under /static/.
func serveStatic() http.Handler {
	sub, _ := fs.Sub(staticFiles, "static")
	fsrv := http.FileServerFS(sub)
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	}))
}
