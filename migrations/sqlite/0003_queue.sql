-- mail/queue: the outbound queue. One row per message (with its body) and
-- one per remote recipient, each with its own retry schedule.
CREATE TABLE queue_messages (
	id INTEGER PRIMARY KEY,
	sender TEXT NOT NULL,                 -- the reverse path; '' for the null sender
	body BLOB NOT NULL,
	size BIGINT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE queue_recipients (
	id INTEGER PRIMARY KEY,
	message_id INTEGER NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
	rcpt TEXT NOT NULL,
	domain TEXT NOT NULL,                 -- IDNA A-label form
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt BIGINT NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	delay_notified BOOLEAN NOT NULL DEFAULT FALSE,
	leased_until BIGINT NOT NULL DEFAULT 0 -- a worker holds it until then
);
CREATE INDEX queue_recipients_due ON queue_recipients(next_attempt);
CREATE INDEX queue_recipients_message ON queue_recipients(message_id);
