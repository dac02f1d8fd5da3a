-- mail/store: mailboxes, messages, their bodies (immutable, in chunks,
-- shared by copies), expunge tombstones for QRESYNC, and per-user usage.
CREATE TABLE bodies (
	id INTEGER PRIMARY KEY,
	size BIGINT NOT NULL
);

CREATE TABLE body_chunks (
	body_id INTEGER NOT NULL REFERENCES bodies(id) ON DELETE CASCADE,
	seq INTEGER NOT NULL,                -- chunk number from 0, each 256 KiB but the last
	data BLOB NOT NULL,
	PRIMARY KEY (body_id, seq)
);

CREATE TABLE mailboxes (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name TEXT NOT NULL,                  -- hierarchy separated by '/', INBOX in upper case
	special_use TEXT NOT NULL DEFAULT '', -- RFC 6154: \Sent, \Drafts, \Trash, \Junk, \Archive
	uidvalidity BIGINT NOT NULL,
	uidnext BIGINT NOT NULL DEFAULT 1,
	highest_modseq BIGINT NOT NULL DEFAULT 1,
	subscribed BOOLEAN NOT NULL DEFAULT TRUE,
	created_at BIGINT NOT NULL,
	UNIQUE (user_id, name)
);

CREATE TABLE messages (
	id INTEGER PRIMARY KEY,
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid BIGINT NOT NULL,
	modseq BIGINT NOT NULL,
	body_id INTEGER NOT NULL REFERENCES bodies(id),
	size BIGINT NOT NULL,
	internal_date BIGINT NOT NULL,
	flags TEXT NOT NULL DEFAULT '',      -- space-separated, sorted
	seen BOOLEAN NOT NULL DEFAULT FALSE,
	deleted BOOLEAN NOT NULL DEFAULT FALSE,
	sent_date BIGINT NOT NULL DEFAULT 0, -- the Date header, unix seconds
	subject TEXT NOT NULL DEFAULT '',
	from_addr TEXT NOT NULL DEFAULT '',
	to_addr TEXT NOT NULL DEFAULT '',
	message_id TEXT NOT NULL DEFAULT '',
	envelope TEXT NOT NULL DEFAULT '',   -- JSON cache of the parsed header
	UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_body ON messages(body_id);

CREATE TABLE expunged (
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid BIGINT NOT NULL,
	modseq BIGINT NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);

CREATE TABLE mail_usage (
	user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	bytes BIGINT NOT NULL DEFAULT 0,
	messages BIGINT NOT NULL DEFAULT 0
);
