package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tidings/tidings/xmpp/router"
)

func init() {
	register("xmpp sessions", command{summary: "list the XMPP client sessions of the running server (asks listen.admin)", run: xmppSessions})
}

// xmppSessions asks the running server's admin listener: sessions live in
// the server's memory, not in the database.
func xmppSessions(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "xmpp sessions", "").withJSON()
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	var list []router.SessionInfo
	if err := adminGet(ctx, e, f.config, "/xmpp/sessions", &list); err != nil {
		return err
	}
	if f.json {
		return printJSON(e.stdout, nonNil(list))
	}
	rows := make([][]string, len(list))
	for i, si := range list {
		state := "connected"
		if si.Available {
			state = "available"
			if si.Show != "" {
				state = si.Show
			}
		}
		rows[i] = []string{si.JID, si.Remote, state, strconv.Itoa(si.Priority), si.Since.Local().Format(time.DateTime)}
	}
	return table(e.stdout, []string{"JID", "REMOTE", "STATE", "PRIORITY", "SINCE"}, rows)
}

// adminGet fetches path from the running server's admin listener as JSON.
func adminGet(ctx context.Context, e *env, configFile, path string, v any) error {
	cfg, _, err := loadConfig(configFile, e.environ)
	if err != nil {
		return err
	}
	if cfg.Listen.Admin == "" {
		return errors.New("listen.admin is off: this can only be read from a running server's admin listener")
	}
	host, port, err := net.SplitHostPort(cfg.Listen.Admin)
	if err != nil {
		return fmt.Errorf("listen.admin: %w", err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is the server running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin listener answered %s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
