-- accounts: domains, users (= mail address = JID), credentials, aliases,
-- contacts, and the account change feed that ends live sessions.
CREATE TABLE domains (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,            -- IDNA A-label form, lower case
	mail_enabled BOOLEAN NOT NULL DEFAULT TRUE,
	xmpp_enabled BOOLEAN NOT NULL DEFAULT TRUE,
	created_at BIGINT NOT NULL
);

CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
	localpart TEXT NOT NULL,              -- PRECIS UsernameCaseMapped
	display_name TEXT NOT NULL DEFAULT '',
	disabled BOOLEAN NOT NULL DEFAULT FALSE,
	is_admin BOOLEAN NOT NULL DEFAULT FALSE,
	xmpp_enabled BOOLEAN NOT NULL DEFAULT TRUE,
	quota_bytes BIGINT NOT NULL DEFAULT 0, -- 0: unlimited
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (domain_id, localpart)
);

CREATE TABLE credentials (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	mechanism TEXT NOT NULL,              -- SCRAM-SHA-1, SCRAM-SHA-256
	salt BLOB NOT NULL,
	iterations INTEGER NOT NULL,
	stored_key BLOB NOT NULL,
	server_key BLOB NOT NULL,
	PRIMARY KEY (user_id, mechanism)
);

CREATE TABLE aliases (
	id INTEGER PRIMARY KEY,
	domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
	localpart TEXT NOT NULL,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	UNIQUE (domain_id, localpart)
);
CREATE INDEX aliases_user ON aliases(user_id);

CREATE TABLE contacts (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name TEXT NOT NULL DEFAULT '',
	email TEXT NOT NULL DEFAULT '',
	jid TEXT NOT NULL DEFAULT '',
	note TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX contacts_user ON contacts(user_id);
CREATE INDEX contacts_email ON contacts(user_id, email);

CREATE TABLE account_events (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	kind TEXT NOT NULL,
	address TEXT NOT NULL DEFAULT '',
	domain TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);
CREATE INDEX account_events_created ON account_events(created_at);
