package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/xmpp/s2s"
)

// tidings xmpp s2s prints what the admin listener's /xmpp/s2s lists; a
// bidirectional stream (XEP-0288) shows as DIR out+bidi or in+bidi.
func TestXMPPS2SCommand(t *testing.T) {
	t.Parallel()
	links := []s2s.Link{
		{Local: "capulet.example", Remote: "montague.example", Direction: "out", State: "ready", Auth: "external", Bidi: true, Addr: "192.0.2.7:5269", Since: time.Now()},
		{Local: "capulet.example", Remote: "verona.example", Direction: "in", State: "verifying", Addr: "192.0.2.8:40000", Since: time.Now()},
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/xmpp/s2s" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(links)
	}))
	defer ts.Close()
	environ := testEnv(t, "TIDINGS_LISTEN_ADMIN="+strings.TrimPrefix(ts.URL, "http://"))

	r := runCmd(t, environ, nil, "xmpp", "s2s")
	if r.code != exitOK {
		t.Fatal(r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "DIR") ||
		!strings.Contains(lines[1], "out+bidi") || !strings.Contains(lines[1], "external") ||
		!strings.Contains(lines[2], " in ") || !strings.Contains(lines[2], " - ") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	r = runCmd(t, environ, nil, "xmpp", "s2s", "--json")
	var got []s2s.Link
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 2 || !got[0].Bidi || got[1].Bidi {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
}
