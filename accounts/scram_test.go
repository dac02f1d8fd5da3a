package accounts

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"testing"
)

// TestSCRAMVectors checks the stored keys against the example exchanges of
// RFC 5802 §5 (SHA-1) and RFC 7677 §3 (SHA-256): a server holding only our
// StoredKey and ServerKey must accept the RFC's client proof and produce the
// RFC's server signature.
func TestSCRAMVectors(t *testing.T) {
	vectors := []struct {
		hash                      SCRAMHash
		salt                      string
		clientFirstBare, serverFi string
		clientFinalNoProof        string
		proof, serverSig          string
	}{
		{
			SCRAMSHA1, "QSXCR+Q6sek8bf92",
			"n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
			"v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		},
		{
			SCRAMSHA256, "W22ZaJ0SNY7soEsUEjb6gQ==",
			"n=user,r=rOprNGfwEbeRWgbNEkqO",
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
			"dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
	}
	for _, v := range vectors {
		t.Run(string(v.hash), func(t *testing.T) {
			salt, _ := base64.StdEncoding.DecodeString(v.salt)
			c, err := deriveSCRAM(v.hash, []byte("pencil"), salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			authMsg := v.clientFirstBare + "," + v.serverFi + "," + v.clientFinalNoProof
			newHash := v.hash.new()
			proof, _ := base64.StdEncoding.DecodeString(v.proof)
			clientSig := mac(newHash, c.StoredKey, authMsg)
			clientKey := make([]byte, len(proof))
			for i := range proof {
				clientKey[i] = proof[i] ^ clientSig[i]
			}
			h := newHash()
			h.Write(clientKey)
			if !bytes.Equal(h.Sum(nil), c.StoredKey) {
				t.Error("RFC client proof does not verify against StoredKey")
			}
			wantSig, _ := base64.StdEncoding.DecodeString(v.serverSig)
			if !hmac.Equal(mac(newHash, c.ServerKey, authMsg), wantSig) {
				t.Error("server signature differs from the RFC's")
			}
			if !c.Verify("pencil") || c.Verify("pencil ") || c.Verify("Pencil") {
				t.Error("Verify disagrees with the derivation")
			}
		})
	}
}

func TestNewCredentials(t *testing.T) {
	a, err := newCredentials("correct horse", MinSCRAMIterations)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newCredentials("correct horse", MinSCRAMIterations)
	if len(a) != 2 || a[0].Hash != SCRAMSHA256 || a[1].Hash != SCRAMSHA1 {
		t.Fatalf("credentials = %+v", a)
	}
	for i := range a {
		if bytes.Equal(a[i].Salt, b[i].Salt) || len(a[i].Salt) != saltLen {
			t.Errorf("%s: salts not fresh and %d bytes", a[i].Hash, saltLen)
		}
		if a[i].Iterations != MinSCRAMIterations || !a[i].Verify("correct horse") || a[i].Verify("wrong horse") {
			t.Errorf("%s: bad credential", a[i].Hash)
		}
	}
	// PRECIS OpaqueString maps non-ASCII spaces to ASCII space: the same
	// password typed with a no-break space verifies.
	c, _ := newCredentials("correct\u00a0horse", MinSCRAMIterations)
	if !c[0].Verify("correct horse") {
		t.Error("OpaqueString mapping not applied")
	}
	if _, err := newCredentials("bad\x00pass", MinSCRAMIterations); err == nil {
		t.Error("control character accepted in password")
	}
}
