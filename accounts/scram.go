package accounts

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"

	"golang.org/x/text/secure/precis"
)

// SCRAMHash names a SCRAM hash function; its string is the SASL mechanism
// name without "-PLUS" (RFC 5802, RFC 7677).
type SCRAMHash string

// The SCRAM variants whose keys are stored for every user.
const (
	SCRAMSHA1   SCRAMHash = "SCRAM-SHA-1"
	SCRAMSHA256 SCRAMHash = "SCRAM-SHA-256"
)

// scramHashes lists the stored variants, strongest first: PLAIN/LOGIN
// verification uses the first one a user has.
var scramHashes = []SCRAMHash{SCRAMSHA256, SCRAMSHA1}

func (h SCRAMHash) new() func() hash.Hash {
	if h == SCRAMSHA1 {
		return sha1.New
	}
	return sha256.New
}

// saltLen is the salt size in bytes (RFC 5802 leaves it open; 16 matches
// Prosody and Dovecot).
const saltLen = 16

// SCRAMCredential is what a SCRAM server needs (RFC 5802 §3): never the
// password, only the salt, the iteration count and the two derived keys.
type SCRAMCredential struct {
	Hash       SCRAMHash
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// preparePassword applies PRECIS OpaqueString (RFC 8265 §4.2, the successor
// of SASLprep that RFC 5802 names), so the same password typed on any client
// derives the same keys.
func preparePassword(password string) ([]byte, error) {
	p, err := precis.OpaqueString.String(password)
	if err != nil {
		return nil, &PasswordError{Reason: "contains characters a password may not hold (PRECIS OpaqueString, RFC 8265)"}
	}
	return []byte(p), nil
}

// deriveSCRAM computes a credential from a prepared password.
func deriveSCRAM(h SCRAMHash, password, salt []byte, iterations int) (SCRAMCredential, error) {
	newHash := h.new()
	salted, err := pbkdf2.Key(newHash, string(password), salt, iterations, newHash().Size())
	if err != nil {
		return SCRAMCredential{}, fmt.Errorf("derive %s key: %w", h, err)
	}
	clientKey := mac(newHash, salted, "Client Key")
	stored := newHash()
	stored.Write(clientKey)
	return SCRAMCredential{
		Hash: h, Salt: salt, Iterations: iterations,
		StoredKey: stored.Sum(nil),
		ServerKey: mac(newHash, salted, "Server Key"),
	}, nil
}

func mac(newHash func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(newHash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// newCredentials derives fresh credentials (new random salts) for every
// stored SCRAM variant.
func newCredentials(password string, iterations int) ([]SCRAMCredential, error) {
	p, err := preparePassword(password)
	if err != nil {
		return nil, err
	}
	var creds []SCRAMCredential
	for _, h := range scramHashes {
		salt := make([]byte, saltLen)
		rand.Read(salt)
		c, err := deriveSCRAM(h, p, salt, iterations)
		if err != nil {
			return nil, err
		}
		creds = append(creds, c)
	}
	return creds, nil
}

// Verify reports whether password matches c, by recomputing StoredKey from
// the salt (used for PLAIN and LOGIN; RFC 5802 §5.1 for the derivation).
func (c SCRAMCredential) Verify(password string) bool {
	p, err := preparePassword(password)
	if err != nil {
		return false
	}
	got, err := deriveSCRAM(c.Hash, p, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got.StoredKey, c.StoredKey) == 1
}
