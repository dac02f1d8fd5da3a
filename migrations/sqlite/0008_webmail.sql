-- webmail: browser sessions. The cookie holds a random token; only its
-- SHA-256 is stored, so a leaked table does not log anyone in. Sessions go
-- with their user. A session remembers the salt of the user's credentials
-- at login: a password change (from anywhere: CLI, admin, XMPP) draws a new
-- salt, which ends every older session at its next request.
CREATE TABLE web_sessions (
	id TEXT PRIMARY KEY,                  -- hex SHA-256 of the cookie token
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	csrf TEXT NOT NULL,                   -- the session's CSRF token
	cred_salt BLOB NOT NULL,              -- credentials.salt (SCRAM-SHA-256) at login
	created_at BIGINT NOT NULL,           -- unix microseconds
	seen_at BIGINT NOT NULL,              -- last request, for the idle timeout
	remote TEXT NOT NULL DEFAULT '',      -- client address at login
	agent TEXT NOT NULL DEFAULT ''        -- User-Agent at login, for the session list
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

-- filters: per-user notification settings the webmail edits: the XMPP
-- address new-mail notifications go to ('' means the user's own JID).
CREATE TABLE filter_settings (
	user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	notify_jid TEXT NOT NULL DEFAULT ''
);

-- mail/store: the webmail's message list sorts a mailbox by date; the
-- console counts today's mail.
CREATE INDEX messages_date ON messages (mailbox_id, internal_date);
CREATE INDEX messages_internal_date ON messages (internal_date);
