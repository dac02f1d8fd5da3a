package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tidings/tidings/webmail/web"
)

type serverRow struct {
	web.Service
	Path string
}

type serversData struct {
	Available bool
	Services  []serverRow
	Error     string
}

func (h *console) serverRows() []serverRow {
	var rows []serverRow
	for _, s := range h.a.Services.Services() {
		rows = append(rows, serverRow{s, "/admin/servers/" + url.PathEscape(s.Name)})
	}
	return rows
}

// servers is the "Servers" form: each listener group with a switch.
func (h *console) servers(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	d := serversData{Available: h.a.Services != nil}
	if d.Available {
		d.Services = h.serverRows()
	}
	return h.render(w, c, "servers.html", "Servers", d)
}

// setServer turns one listener group on (on=1) or off (on=0).
func (h *console) setServer(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	if h.a.Services == nil {
		return web.Errorf(http.StatusServiceUnavailable, "Switching listeners is not available in this server.")
	}
	name := r.PathValue("name")
	var svc *web.Service
	for _, s := range h.a.Services.Services() {
		if s.Name == name {
			svc = &s
			break
		}
	}
	if svc == nil {
		return web.NotFound
	}
	var on bool
	switch r.PostFormValue("on") {
	case "1":
		on = true
	case "0":
	default:
		return web.Errorf(http.StatusBadRequest, "Say whether to turn %s on or off.", svc.Label)
	}
	if err := h.a.Services.SetService(r.Context(), name, on); err != nil {
		h.a.Log.Error("admin console: switching a listener failed", "admin", c.User.Address, "service", name, "on", on, "err", err)
		c.Status(http.StatusInternalServerError)
		return h.render(w, c, "servers.html", "Servers", serversData{Available: true, Services: h.serverRows(),
			Error: fmt.Sprintf("Could not turn %s %s: %v", svc.Label, onOff(on), err)})
	}
	h.a.Log.Info("admin console: listener switched", "admin", c.User.Address, "service", name, "on", on)
	return c.Redirect(w, r, "/admin/servers", fmt.Sprintf("%s is %s.", svc.Label, onOff(on)))
}

type queueRow struct {
	web.QueueEntry
	ID string
}

type queueData struct {
	Available bool
	Entries   []queueRow
	Entry     queueRow // the confirmation page's
}

func (h *console) queue(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	d := queueData{Available: h.a.Queue != nil}
	if d.Available {
		es, err := h.a.Queue.QueueList(r.Context())
		if err != nil {
			return err
		}
		for _, e := range es {
			d.Entries = append(d.Entries, queueRow{e, strconv.FormatInt(e.ID, 10)})
		}
	}
	return h.render(w, c, "queue.html", "Outbound queue", d)
}

// queueID reads the {id} of the path; it needs a queue.
func (h *console) queueID(r *http.Request) (int64, error) {
	if h.a.Queue == nil {
		return 0, web.Errorf(http.StatusServiceUnavailable, "The outbound queue is not available in this server.")
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, web.NotFound
	}
	return id, nil
}

func (h *console) retryQueued(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	id, err := h.queueID(r)
	if err != nil {
		return err
	}
	err = h.a.Queue.QueueRetry(r.Context(), id)
	switch {
	case errors.Is(err, web.NotFound):
		return c.Redirect(w, r, "/admin/queue", fmt.Sprintf("Entry %d is no longer in the queue.", id))
	case err != nil:
		return err
	}
	h.a.Log.Info("admin console: queue retry", "admin", c.User.Address, "id", id)
	return c.Redirect(w, r, "/admin/queue", fmt.Sprintf("Entry %d will be retried now.", id))
}

// confirmDrop asks before dropping: the sender is not told.
func (h *console) confirmDrop(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	id, err := h.queueID(r)
	if err != nil {
		return err
	}
	es, err := h.a.Queue.QueueList(r.Context())
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.ID == id {
			return h.render(w, c, "queue_drop.html", "Drop queued mail", queueData{Available: true, Entry: queueRow{e, strconv.FormatInt(id, 10)}})
		}
	}
	return c.Redirect(w, r, "/admin/queue", fmt.Sprintf("Entry %d is no longer in the queue.", id))
}

func (h *console) dropQueued(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	id, err := h.queueID(r)
	if err != nil {
		return err
	}
	err = h.a.Queue.QueueDrop(r.Context(), id)
	switch {
	case errors.Is(err, web.NotFound):
		return c.Redirect(w, r, "/admin/queue", fmt.Sprintf("Entry %d is no longer in the queue.", id))
	case err != nil:
		return err
	}
	h.a.Log.Info("admin console: queue drop", "admin", c.User.Address, "id", id)
	return c.Redirect(w, r, "/admin/queue", fmt.Sprintf("Entry %d dropped.", id))
}
