package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/tidings/tidings/webmail/web"
)

// listenerSet holds every protocol listener serveOn opened, so the admin
// console can switch services off (close the listener: no new connections;
// sessions already open go on until they end) and on again (listen anew on
// the configured address) while the server runs. The switch lasts until the
// next start; listen.<key> = "" in the configuration switches a service off
// for good.
type listenerSet struct {
	mu sync.Mutex
	m  map[string]*switchable
}

// switchable is one listen.<key>.
type switchable struct {
	key, addr string // the configured address
	bound     string // the address it listens on (differs for port 0)
	serve     func(net.Listener) error
	closed    error // what serve returns when its server shut down
	ln        net.Listener
}

// serviceGroups are the console's switches: each turns its listeners on or
// off together. The webmail's own listeners and the admin listener are not
// switchable (an administrator could lock themself out).
var serviceGroups = []struct {
	name, label string
	keys        []string
}{
	{"smtp", "SMTP: incoming mail (MX)", []string{"smtp"}},
	{"submission", "Submission: sending from mail programs", []string{"submission", "submissions"}},
	{"imap", "IMAP: reading from mail programs", []string{"imap", "imaps"}},
	{"managesieve", "ManageSieve: filter scripts", []string{"managesieve"}},
	{"xmpp", "XMPP: chat clients", []string{"xmpp_client", "xmpp_client_tls"}},
	{"xmpp_server", "XMPP federation: other chat servers", []string{"xmpp_server", "xmpp_server_tls"}},
}

// serveOn opens listen.<key> (nothing if addr is "") and runs serve on it
// in a goroutine; serve returns closed when its server stops.
func (s *server) serveOn(key, addr string, serve func(net.Listener) error, closed error) error {
	if addr == "" {
		return nil
	}
	sw := &switchable{key: key, addr: addr, serve: serve, closed: closed}
	if err := s.startListener(sw); err != nil {
		return err
	}
	s.listeners.mu.Lock()
	if s.listeners.m == nil {
		s.listeners.m = map[string]*switchable{}
	}
	s.listeners.m[key] = sw
	s.listeners.mu.Unlock()
	return nil
}

// startListener listens on sw's address and serves it. Callers hold
// s.listeners.mu or own sw alone.
func (s *server) startListener(sw *switchable) error {
	ln, err := listen(sw.key, sw.addr)
	if err != nil {
		return err
	}
	sw.ln, sw.bound = ln, ln.Addr().String()
	go func() {
		err := sw.serve(ln)
		s.listeners.mu.Lock()
		switchedOff := sw.ln != ln // the console closed it
		s.listeners.mu.Unlock()
		if err != nil && !errors.Is(err, sw.closed) && !switchedOff {
			s.log.Error("listener failed", "listen", sw.key, "err", err)
		}
	}()
	s.log.Info("listening", "service", sw.key, "addr", sw.bound)
	return nil
}

// webServices is the console's view of the switches (web.Services).
type webServices struct{ s *server }

func (w webServices) Services() []web.Service {
	ls := &w.s.listeners
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var out []web.Service
	for _, g := range serviceGroups {
		var addrs []string
		on := false
		for _, k := range g.keys {
			if sw, ok := ls.m[k]; ok {
				addrs = append(addrs, sw.bound)
				on = on || sw.ln != nil
			}
		}
		if len(addrs) > 0 {
			out = append(out, web.Service{Name: g.name, Label: g.label, Addr: strings.Join(addrs, ", "), On: on})
		}
	}
	return out
}

func (w webServices) SetService(ctx context.Context, name string, on bool) error {
	i := slices.IndexFunc(serviceGroups, func(g struct {
		name, label string
		keys        []string
	}) bool {
		return g.name == name
	})
	if i < 0 {
		return fmt.Errorf("no service %q", name)
	}
	s := w.s
	ls := &s.listeners
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var errs []error
	found := false
	for _, k := range serviceGroups[i].keys {
		sw, ok := ls.m[k]
		if !ok {
			continue
		}
		found = true
		switch {
		case on && sw.ln == nil:
			if err := s.startListener(sw); err != nil {
				errs = append(errs, err)
			}
		case !on && sw.ln != nil:
			ln := sw.ln
			sw.ln = nil
			ln.Close()
			s.log.Info("listener switched off", "service", k, "addr", sw.bound)
		}
	}
	if !found {
		return fmt.Errorf("service %q is not configured (listen.%s is empty)", name, serviceGroups[i].keys[0])
	}
	return errors.Join(errs...)
}
