package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The XMPP interop test proves the client-to-server XMPP server with
// software nobody here wrote: slixmpp (Python, Debian package
// python3-slixmpp) for logins, resources, roster, subscriptions, messages,
// offline storage, carbons, blocking, vCard and ping, and go-sendxmpp
// (Debian package go-sendxmpp) sending a message that a slixmpp client
// receives. The real binary serves listen.xmpp_client (STARTTLS) and
// listen.xmpp_client_tls (direct TLS) on loopback; the users are created
// with the CLI; testdata/xmpp/slixmpp_scenarios.py runs every scenario in
// turn and prints one PASS, FAIL or SKIP line each, with the scenario's
// stanzas after a FAIL. Each scenario becomes a subtest here.

// xmppInteropScenarios are the scenarios slixmpp_scenarios.py runs, in its
// order: each must report, so that a script that stops half-way fails.
var xmppInteropScenarios = []string{
	"scram-login",          // SCRAM-SHA-* over STARTTLS, the -PLUS refusals only before it
	"direct-tls-login",     // SCRAM over listen.xmpp_client_tls
	"wrong-password",       // not-authorized, stream closed; a correct login afterwards
	"two-resources",        // two resources of one user bound, each sees the other
	"roster-push",          // a roster set pushed to both resources; removal too
	"subscription",         // the RFC 6121 §3.1 handshake both ways, ending in both/both, presence across
	"messages",             // chat both ways, normal to the bare JID, id/thread and escaping kept
	"offline",              // stored while offline, delivered on login with an XEP-0203 delay, once
	"carbons",              // XEP-0280 received and sent carbons to the other resource
	"blocking",             // XEP-0191 block, bounces both ways, hidden presence, unblock
	"blocking-stranger",    // XEP-0191 blocking a non-contact leaks no presence
	"vcard",                // XEP-0054 set, read by another user; others cannot set it
	"ping",                 // XEP-0199 to the server; disco#info lists the features
	"go-sendxmpp-tls",      // go-sendxmpp over direct TLS to a slixmpp client
	"go-sendxmpp-starttls", // go-sendxmpp over STARTTLS
}

var (
	xmppInteropListensRE = regexp.MustCompile(`msg=listening service=(xmpp_client|xmpp_client_tls) addr=(\S+)`)
	xmppInteropResultRE  = regexp.MustCompile(`^(PASS|FAIL|SKIP) (\S+) \(([0-9.]+)s\): (.*)$`)
	xmppInteropDoneRE    = regexp.MustCompile(`(?m)^DONE \d+ passed, \d+ failed, \d+ skipped$`)
)

// interopSlixmpp returns a python3 that can import slixmpp, and its
// slixmpp version. Debian's /usr/bin/python3 comes first: python3-slixmpp
// installs for it, and a pyenv or venv python3 earlier in PATH does not
// see it (nor should a pip-installed slixmpp of another version stand in
// for the Debian one).
func interopSlixmpp(t *testing.T) (string, string) {
	t.Helper()
	var tried []string
	for _, name := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		out, err := exec.Command(path, "-c", "import slixmpp, ssl, asyncio; print(slixmpp.__version__)").CombinedOutput()
		if err == nil {
			return path, strings.TrimSpace(string(out))
		}
		tried = append(tried, path+": "+strings.TrimSpace(string(out)))
	}
	interopRequireTool(t, "no python3 with slixmpp (Debian: apt-get install python3-slixmpp; scripts/test.sh does); tried: %q", tried)
	return "", ""
}

// xmppInteropResult is one scenario's line and the lines under it.
type xmppInteropResult struct {
	status, detail string
	seconds        float64
}

// parseXMPPInterop reads the script's output into results by scenario.
func parseXMPPInterop(out string) map[string]*xmppInteropResult {
	res := map[string]*xmppInteropResult{}
	var last *xmppInteropResult
	for _, line := range strings.Split(out, "\n") {
		if m := xmppInteropResultRE.FindStringSubmatch(line); m != nil {
			secs, _ := strconv.ParseFloat(m[3], 64)
			last = &xmppInteropResult{status: m[1], detail: m[4], seconds: secs}
			res[m[2]] = last
			continue
		}
		if last != nil && strings.HasPrefix(line, "  ") {
			last.detail += "\n" + line
			continue
		}
		last = nil
	}
	return res
}

// TestInteropXMPP runs the slixmpp and go-sendxmpp scenarios against the
// binary's XMPP listeners.
func TestInteropXMPP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and runs slixmpp and go-sendxmpp")
	}
	t.Parallel()
	python, version := interopSlixmpp(t)
	t.Logf("slixmpp %s (%s)", version, python)
	sendxmpp, err := exec.LookPath("go-sendxmpp")
	if err != nil {
		sendxmpp = "" // its scenarios report SKIP; the subtests decide
	}
	start := time.Now()

	bin := binary(t)
	listen := interopListenAddrs(t)
	environ := testEnv(t,
		"TIDINGS_LISTEN_XMPP_CLIENT="+listen[0],
		"TIDINGS_LISTEN_XMPP_CLIENT_TLS="+listen[1],
		// Rate shaping after authentication would only slow the scenarios.
		"TIDINGS_XMPP_C2S_POST_AUTH_BYTES_PER_SECOND=0",
	)
	proc := startServeProc(t, bin, environ)
	addr := map[string]string{}
	for _, m := range xmppInteropListensRE.FindAllStringSubmatch(proc.stderr.String(), -1) {
		addr[m[1]] = m[2]
	}
	hostPort := func(key string) (string, int) {
		host, port, err := net.SplitHostPort(addr[key])
		n, _ := strconv.Atoi(port)
		if err != nil || !strings.HasPrefix(host, "127.") || n == 0 {
			t.Fatalf("listen.%s: logged address %q; log:\n%s", key, addr[key], proc.stderr.String())
		}
		return host, n
	}
	host, port := hostPort("xmpp_client")
	tlsHost, tlsPort := hostPort("xmpp_client_tls")

	const tybalt = "tybalt@capulet.example"
	srv := &interopServer{bin: bin, environ: environ}
	for _, u := range []string{interopJuliet, interopRomeo, tybalt} {
		srv.cli(t, interopPassword+"\n", "user", "add", u, "--password-stdin")
	}

	cfg, err := json.Marshal(map[string]any{
		"host": host, "port": port, "tls_host": tlsHost, "tls_port": tlsPort,
		"domain": "capulet.example", "juliet": interopJuliet, "romeo": interopRomeo, "tybalt": tybalt,
		"password": interopPassword, "sendxmpp": sendxmpp, "home": t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "xmpp", "slixmpp_scenarios.py"), string(cfg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	out := stdout.String()
	results := parseXMPPInterop(out)

	for _, name := range xmppInteropScenarios {
		t.Run(name, func(t *testing.T) {
			r := results[name]
			switch {
			case r == nil:
				t.Errorf("the script reported nothing for %s (%v); its output:\n%s\nstderr:\n%s", name, runErr, out, stderr.String())
			case r.status == "FAIL":
				t.Errorf("%s (%.2fs): %s", name, r.seconds, r.detail)
			case r.status == "SKIP" && strings.HasPrefix(name, "go-sendxmpp"):
				interopRequireTool(t, "go-sendxmpp not installed (Debian: apt-get install go-sendxmpp; scripts/test.sh does): %s", r.detail)
			case r.status != "PASS":
				t.Errorf("%s: %s %s", name, r.status, r.detail)
			default:
				t.Logf("%.2fs: %s", r.seconds, r.detail)
			}
		})
	}
	for name := range results {
		if !slices.Contains(xmppInteropScenarios, name) {
			t.Errorf("the script ran scenario %q, which this test does not know", name)
		}
	}
	if !xmppInteropDoneRE.MatchString(out) {
		t.Errorf("the script did not finish (%v); stdout:\n%s\nstderr:\n%s", runErr, out, stderr.String())
	} else if runErr != nil && !t.Failed() {
		t.Errorf("the script: %v with every scenario passed; stderr:\n%s", runErr, stderr.String())
	}
	if log := proc.stderr.String(); strings.Contains(log, "level=ERROR") || strings.Contains(log, "panic") {
		t.Errorf("errors in the server log:\n%s", log)
	}
	t.Logf("done in %v", time.Since(start).Round(time.Millisecond))
}
