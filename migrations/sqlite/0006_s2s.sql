-- xmpp/s2s: the persistent Server Dialback secret (XEP-0185). One row; every
-- node of a cluster reads the same secret, so a db:verify may reach any node.
CREATE TABLE s2s_secret (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	secret BLOB NOT NULL,                 -- 32 random bytes
	created_at BIGINT NOT NULL            -- unix microseconds
);
