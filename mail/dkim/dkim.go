// Package dkim keeps each hosted domain's DKIM keys and signs outgoing mail
// with them (RFC 6376), with go-msgauth doing the cryptography.
//
// Implementation notes:
//   - Every domain gets two keys: Ed25519 (RFC 8463) and RSA-2048, and
//     outgoing mail carries both signatures, so receivers that know only
//     RSA still verify (RFC 8463 §4 recommends dual signing).
//   - Keys are created when a domain is added (the serve command and the
//     CLI call EnsureKeys; accounts cannot import mail) and at start for
//     domains that lack them. Private keys are stored in the database as
//     PKCS #8; the public halves are published with `tidings dns records`.
//   - The signing domain is the domain of the From header (RFC 7489 §3.1
//     alignment for DMARC); mail whose From is not a hosted domain is sent
//     unsigned.
//   - Signed header fields follow RFC 6376 §5.4.1; From, Subject, Date, To,
//     Cc, Message-ID, MIME fields are listed once more than they occur, so
//     that adding one later breaks the signature (over-signing).
//   - Table: dkim_keys.
package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
)

// The selectors of the two keys. Rotation would add dated selectors; for
// now one key pair per algorithm.
const (
	SelectorEd25519 = "tidings-ed"
	SelectorRSA     = "tidings-rsa"
	rsaBits         = 2048
)

// signedHeaders are signed (RFC 6376 §5.4.1); over-signed ones appear twice.
var signedHeaders = []string{
	"From", "From", "Reply-To", "Subject", "Subject", "Date", "Date", "To", "To", "Cc", "Cc",
	"Message-ID", "Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "List-Unsubscribe", "List-Unsubscribe-Post",
}

// Key is one domain key.
type Key struct {
	Domain    string
	Selector  string
	Algorithm string // "ed25519" or "rsa"
	Signer    crypto.Signer
	CreatedAt time.Time
}

// Record renders the DNS TXT record that publishes the public key
// (RFC 6376 §3.6.1): name and value.
func (k Key) Record() (name, value string, err error) {
	der, err := x509.MarshalPKIXPublicKey(k.Signer.Public())
	if err != nil {
		return "", "", err
	}
	p := base64.StdEncoding.EncodeToString(der)
	if pub, ok := k.Signer.Public().(ed25519.PublicKey); ok {
		p = base64.StdEncoding.EncodeToString(pub) // RFC 8463 §4.2: the raw key, not SPKI
	}
	return k.Selector + "._domainkey." + k.Domain, "v=DKIM1; k=" + k.Algorithm + "; p=" + p, nil
}

// Keys manages the keys.
type Keys struct {
	db *migrations.DB
}

// New returns the key manager over db.
func New(db *migrations.DB) *Keys { return &Keys{db: db} }

// EnsureKeys creates the domain's missing keys; safe to call repeatedly.
func (k *Keys) EnsureKeys(ctx context.Context, domain string) error {
	d, err := accounts.NormalizeDomain(domain)
	if err != nil {
		return err
	}
	have, err := k.List(ctx, d)
	if err != nil {
		return err
	}
	for _, want := range []struct{ selector, alg string }{{SelectorEd25519, "ed25519"}, {SelectorRSA, "rsa"}} {
		if hasSelector(have, want.selector) {
			continue
		}
		signer, err := generate(want.alg)
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKCS8PrivateKey(signer)
		if err != nil {
			return err
		}
		err = k.db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO dkim_keys (domain, selector, algorithm, private_key, created_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain, selector) DO NOTHING`, d, want.selector, want.alg, der, time.Now().Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("dkim key for %s: %w", d, err)
		}
	}
	return nil
}

func hasSelector(keys []Key, sel string) bool {
	for _, k := range keys {
		if k.Selector == sel {
			return true
		}
	}
	return false
}

func generate(alg string) (crypto.Signer, error) {
	if alg == "ed25519" {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return rsa.GenerateKey(rand.Reader, rsaBits)
}

// List returns a domain's keys, Ed25519 first.
func (k *Keys) List(ctx context.Context, domain string) ([]Key, error) {
	d, err := accounts.NormalizeDomain(domain)
	if err != nil {
		return nil, err
	}
	rows, err := k.db.QueryContext(ctx, "SELECT selector, algorithm, private_key, created_at FROM dkim_keys WHERE domain = $1 ORDER BY algorithm", d)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		key := Key{Domain: d}
		var der []byte
		var created int64
		if err := rows.Scan(&key.Selector, &key.Algorithm, &der, &created); err != nil {
			return nil, err
		}
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("dkim key %s for %s: %w", key.Selector, d, err)
		}
		signer, ok := parsed.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("dkim key %s for %s: not a signing key", key.Selector, d)
		}
		key.Signer, key.CreatedAt = signer, time.Unix(created, 0).UTC()
		out = append(out, key)
	}
	return out, rows.Err()
}

// ErrNoKeys means the domain has no keys (not hosted here).
var ErrNoKeys = errors.New("no DKIM keys for this domain")

// Sign returns msg with DKIM-Signature header fields for domain prepended,
// one per key.
func (k *Keys) Sign(ctx context.Context, domain string, msg []byte) ([]byte, error) {
	keys, err := k.List(ctx, domain)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoKeys, domain)
	}
	var headers bytes.Buffer
	for _, key := range keys {
		var signed bytes.Buffer
		err := dkim.Sign(&signed, bytes.NewReader(msg), &dkim.SignOptions{
			Domain: key.Domain, Selector: key.Selector, Signer: key.Signer, Hash: crypto.SHA256,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
			HeaderKeys: signedHeaders,
		})
		if err != nil {
			return nil, fmt.Errorf("dkim sign (%s): %w", key.Selector, err)
		}
		// Sign writes the signature field followed by msg; keep the field.
		sig, _, ok := bytes.Cut(signed.Bytes(), msg)
		if !ok || !strings.HasPrefix(string(sig), "DKIM-Signature:") {
			return nil, errors.New("dkim sign: unexpected output")
		}
		headers.Write(sig)
	}
	return append(headers.Bytes(), msg...), nil
}
