-- filters: per-user Sieve scripts (RFC 5228), managed by ManageSieve
-- (RFC 5804), the webmail and the CLI; at most one active script per user.
-- The vacation memory (RFC 5230 §4.2): whom a user already answered, per
-- handle, until when. Everything goes with its user.
CREATE TABLE sieve_scripts (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	source TEXT NOT NULL,
	active BOOLEAN NOT NULL DEFAULT FALSE,
	updated_at BIGINT NOT NULL,           -- unix microseconds; with id, the compiled-script cache key
	UNIQUE (user_id, name)
);

CREATE UNIQUE INDEX sieve_scripts_active ON sieve_scripts (user_id) WHERE active;

CREATE TABLE sieve_vacation (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	handle TEXT NOT NULL,
	sender TEXT NOT NULL,                 -- lower-cased envelope sender answered
	until_at BIGINT NOT NULL,             -- unix microseconds: no new reply before this
	PRIMARY KEY (user_id, handle, sender)
);
