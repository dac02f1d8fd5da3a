package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRedirectToHTTPS: listen.http sends every request to the same path
// over HTTPS, keeping a non-default port and never a foreign host name.
func TestRedirectToHTTPS(t *testing.T) {
	s := &server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.cfg.Hostname = "mail.capulet.example"
	for _, tc := range []struct {
		https, host, path, want string
	}{
		{":443", "mail.capulet.example", "/mail/INBOX/?page=2", "https://mail.capulet.example/mail/INBOX/?page=2"},
		{":8443", "mail.capulet.example:8080", "/", "https://mail.capulet.example:8443/"},
		{":443", "127.0.0.1:80", "/login", "https://127.0.0.1/login"},
		{":443", "[::1]:80", "/login", "https://[::1]/login"},
		{":443", "bad host!", "/x", "https://mail.capulet.example/x"},
	} {
		s.cfg.Listen.HTTPS = tc.https
		req := httptest.NewRequest(http.MethodGet, "http://example/"+tc.path[1:], nil)
		req.Host = tc.host
		rec := httptest.NewRecorder()
		s.redirectToHTTPS(rec, req)
		if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != tc.want {
			t.Errorf("https %s, host %q, %s: %d %q, want 301 %q", tc.https, tc.host, tc.path, rec.Code, rec.Header().Get("Location"), tc.want)
		}
	}
}

// TestACMEHostPolicy: certificates only for names this server serves.
func TestACMEHostPolicy(t *testing.T) {
	s := adapterServer(t)
	s.cfg.Hostname = "mail.capulet.example"
	for host, ok := range map[string]bool{
		"mail.capulet.example": true, "capulet.example": true, "MAIL.Capulet.Example.": true,
		"evil.example": false, "mail.evil.example": false,
	} {
		if err := s.acmeHostPolicy(context.Background(), host); (err == nil) != ok {
			t.Errorf("%s: %v, want allowed=%v", host, err, ok)
		}
	}
}
