package imapd

// Counts returns how many users have at least one logged-in IMAP session,
// and how many such sessions there are, for the admin console's live
// figures. Connections that have not logged in are not counted.
func (s *Server) Counts() (users, sessions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, us := range s.users {
		sessions += len(us.sessions)
	}
	return len(s.users), sessions
}
