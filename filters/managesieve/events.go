package managesieve

import (
	"errors"
	"strings"

	"github.com/tidings/tidings/accounts"
)

const accountChangedText = "Account changed; please log in again"

// accountEvent ends the sessions an account change invalidates. It runs on
// the accounts watcher's goroutine and must not block.
func (s *Server) accountEvent(ev accounts.Event) {
	switch ev.Kind {
	case accounts.EventPasswordChanged, accounts.EventUserDisabled, accounts.EventUserDeleted:
		s.endUsers(func(addr string) bool { return addr == ev.Address })
	case accounts.EventUserChanged:
		s.recheck(func(addr string) bool { return addr == ev.Address })
	case accounts.EventDomainChanged:
		s.recheck(func(addr string) bool { return domainOf(addr) == ev.Domain })
	}
}

func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return d
}

// endUsers ends the sessions of the matching addresses with BYE.
func (s *Server) endUsers(match func(addr string) bool) {
	var ending []*conn
	s.mu.Lock()
	for addr, m := range s.users {
		if match(addr) {
			for c := range m {
				ending = append(ending, c)
			}
		}
	}
	s.mu.Unlock()
	for _, c := range ending {
		c.end("", accountChangedText)
	}
}

// recheck re-reads the matching users (on a worker) and ends the sessions
// of those who may no longer use ManageSieve (mail switched off for the
// domain, account disabled or gone).
func (s *Server) recheck(match func(addr string) bool) {
	var addrs []string
	s.mu.Lock()
	for addr := range s.users {
		if match(addr) {
			addrs = append(addrs, addr)
		}
	}
	s.mu.Unlock()
	if len(addrs) == 0 {
		return
	}
	s.spawn(func() {
		for _, a := range addrs {
			u, err := s.Accounts.User(s.ctx, a)
			switch {
			case err == nil && u.CanUse(accounts.ServiceManageSieve):
				continue
			case err != nil && !errors.Is(err, accounts.ErrNotFound):
				if s.ctx.Err() == nil {
					s.log.Error("re-reading an account after a change", "user", a, "err", err)
				}
				continue
			}
			s.endUsers(func(addr string) bool { return addr == a })
		}
	})
}
