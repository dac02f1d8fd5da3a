-- xmpp/storage: per-user XMPP state. The roster (RFC 6121) with its version
-- counter, offline messages (RFC 6121 §8.5.2.1.1, XEP-0160), vcard-temp
-- (XEP-0054), private XML storage (XEP-0049), the block list (XEP-0191) and
-- last activity (XEP-0012). Everything goes with its user.
CREATE TABLE xmpp_users (
	user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	roster_version BIGINT NOT NULL DEFAULT 0, -- bumped by every visible roster change
	last_logout BIGINT,                   -- unix microseconds; NULL: never logged out
	last_status TEXT NOT NULL DEFAULT ''  -- status text of the last unavailable presence
);

CREATE TABLE xmpp_roster (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	jid TEXT NOT NULL,                    -- canonical bare JID of the contact
	name TEXT NOT NULL DEFAULT '',
	group_names TEXT NOT NULL DEFAULT '[]', -- JSON array of strings, sorted, unique
	subscription TEXT NOT NULL DEFAULT 'none' CHECK (subscription IN ('none', 'to', 'from', 'both')),
	pending_out BOOLEAN NOT NULL DEFAULT FALSE, -- ask='subscribe'
	pending_in BOOLEAN NOT NULL DEFAULT FALSE,  -- the contact's request awaits an answer
	approved BOOLEAN NOT NULL DEFAULT FALSE,    -- pre-approved (RFC 6121 §3.4)
	hidden BOOLEAN NOT NULL DEFAULT FALSE,      -- only remembers an inbound request
	PRIMARY KEY (user_id, jid)
);

CREATE TABLE xmpp_offline (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	stanza BLOB NOT NULL,                 -- the serialized <message/>
	stamp BIGINT NOT NULL                 -- unix microseconds, for XEP-0203 <delay/>
);
CREATE INDEX xmpp_offline_user ON xmpp_offline(user_id, id);

CREATE TABLE xmpp_vcards (
	user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	xml BLOB NOT NULL,                    -- the serialized <vCard xmlns='vcard-temp'/>
	updated_at BIGINT NOT NULL            -- unix seconds
);

CREATE TABLE xmpp_private (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	ns TEXT NOT NULL,
	local_name TEXT NOT NULL,
	xml BLOB NOT NULL,                    -- the serialized child of <query xmlns='jabber:iq:private'/>
	updated_at BIGINT NOT NULL,           -- unix seconds
	PRIMARY KEY (user_id, ns, local_name)
);

CREATE TABLE xmpp_blocklist (
	id INTEGER PRIMARY KEY,               -- insertion order
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	jid TEXT NOT NULL,                    -- domain, bare or full JID
	UNIQUE (user_id, jid)
);
