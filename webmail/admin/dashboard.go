package admin

import (
	"net/http"

	"github.com/tidings/tidings/webmail/web"
)

// countsData is the live figures; Available is false without a web.Stats.
type countsData struct {
	Available bool
	web.Counts
}

type dashboardData struct {
	Counts  countsData
	Domains int
	Users   int
	Queued  int
	QueueOK bool // the queue could be read
}

func (h *console) liveCounts(r *http.Request) countsData {
	if h.a.Stats == nil {
		return countsData{}
	}
	return countsData{Available: true, Counts: h.a.Stats.Counts(r.Context())}
}

// dashboard is the console's start page: live counts (refreshed by htmx
// every 10 s from /admin/counts) and totals.
func (h *console) dashboard(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	ctx := r.Context()
	d := dashboardData{Counts: h.liveCounts(r)}
	ds, err := h.a.Accounts.Domains(ctx)
	if err != nil {
		return err
	}
	d.Domains = len(ds)
	if d.Users, err = h.a.Accounts.CountUsers(ctx); err != nil {
		return err
	}
	if h.a.Queue != nil {
		if es, err := h.a.Queue.QueueList(ctx); err == nil {
			d.Queued, d.QueueOK = len(es), true
		} else {
			h.a.Log.Warn("admin console: reading the queue failed", "err", err)
		}
	}
	return h.render(w, c, "dashboard.html", "Administration", d)
}

// counts is the live figures alone, for the dashboard's refresh.
func (h *console) counts(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	return c.Fragment(w, h.ps, "dashboard.html", "counts", h.liveCounts(r))
}
