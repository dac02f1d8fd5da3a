package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Self-signed certificate lifetime and renewal margin: the certificate is
// recreated at start when it expires within selfSignedRenew or no longer
// covers the hostname and every domain.
const (
	selfSignedLife  = 2 * 365 * 24 * time.Hour
	selfSignedRenew = 30 * 24 * time.Hour
)

// startTLS loads the configured certificate, or makes (once) and reuses a
// self-signed one, into the tls.Config every TLS listener shares.
func (s *server) startTLS(ctx context.Context) error {
	certFile, keyFile := s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile
	if certFile == "" {
		names := []string{s.cfg.Hostname}
		ds, err := s.accounts.Domains(ctx)
		if err != nil {
			return err
		}
		for _, d := range ds {
			names = append(names, d.Name)
		}
		dir := filepath.Join(s.cfg.DataDir, "tls")
		certFile, keyFile = filepath.Join(dir, "selfsigned.crt"), filepath.Join(dir, "selfsigned.key")
		made, err := ensureSelfSigned(certFile, keyFile, names, time.Now())
		if err != nil {
			return err
		}
		if made {
			s.log.Warn("created a self-signed certificate; clients will warn until you configure tls.cert_file", "file", certFile, "names", names)
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("load certificate %s: %w", certFile, err)
	}
	s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	sum := sha256.Sum256(cert.Certificate[0])
	s.log.Info("certificate loaded", "file", certFile, "names", cert.Leaf.DNSNames,
		"expires", cert.Leaf.NotAfter.Format(time.DateOnly), "sha256", hex.EncodeToString(sum[:]))
	return nil
}

// ensureSelfSigned keeps the certificate at certFile if it is valid for
// all names for at least selfSignedRenew, else writes a new one. It reports
// whether it wrote one.
func ensureSelfSigned(certFile, keyFile string, names []string, now time.Time) (bool, error) {
	if selfSignedUsable(certFile, keyFile, names, now) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return false, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0], Organization: []string{"Tidings self-signed"}},
		DNSNames:              slices.Compact(names),
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLife),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return false, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return false, err
	}
	// Key first: a certificate is never on disk without its key.
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return false, err
	}
	return true, writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func selfSignedUsable(certFile, keyFile string, names []string, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return false
	}
	leaf := pair.Leaf
	// Not yet valid (the clock was set back since it was made) is as
	// useless to clients as expired.
	if now.Before(leaf.NotBefore) || now.Add(selfSignedRenew).After(leaf.NotAfter) {
		return false
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// writeFileAtomic writes data to a temporary file, syncs it and renames it
// over path, so a crash leaves the old file or the new, never half of one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
