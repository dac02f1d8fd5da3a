-- mail/dkim: signing keys per domain (RFC 6376), one per algorithm:
-- Ed25519 (RFC 8463) and RSA-2048 for receivers without Ed25519.
CREATE TABLE dkim_keys (
	id INTEGER PRIMARY KEY,
	domain TEXT NOT NULL,                 -- IDNA A-label form
	selector TEXT NOT NULL,
	algorithm TEXT NOT NULL,              -- 'ed25519' or 'rsa'
	private_key BLOB NOT NULL,            -- PKCS #8 DER
	created_at BIGINT NOT NULL,
	UNIQUE (domain, selector)
);
