package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

// drivers are the databases the end-to-end tests run on; env returns the
// extra environment that selects one.
var drivers = []struct {
	name string
	env  func(t *testing.T) []string
}{
	{"sqlite", func(*testing.T) []string { return nil }},
	{"postgres", func(t *testing.T) []string {
		return []string{"TIDINGS_DATABASE_DRIVER=postgres", "TIDINGS_DATABASE_DSN=" + dbtest.PostgresDSN(t)}
	}},
}

// openTestStore opens the account store environ configures, as a second
// client next to the CLI or a running server.
func openTestStore(t *testing.T, environ []string) *accounts.Store {
	t.Helper()
	st, _ := openTestDB(t, environ)
	return st
}

// openTestDB opens the database environ configures (closed at clean-up)
// and the account store over it.
func openTestDB(t *testing.T, environ []string) (*accounts.Store, *migrations.DB) {
	t.Helper()
	cfg, _, err := loadConfig("", environ)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDatabase(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := accounts.New(db, cfg.Accounts, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st, db
}

// login tries a password login (as IMAP) with a fresh store, so that no
// throttle state carries over.
func login(t *testing.T, environ []string, addr, password string) (accounts.User, error) {
	t.Helper()
	return openTestStore(t, environ).Authenticate(context.Background(),
		accounts.Attempt{Username: addr, Password: password, Service: accounts.ServiceIMAP})
}

func decodeJSON[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("stdout is not the expected JSON: %v\n%s", err, r)
	}
	return v
}

// cliStep is one command of a CLI session and what it must do.
type cliStep struct {
	args      []string
	stdin     string // given as a strings.Reader
	stdinFile string // if set: this file, opened, as stdin (an *os.File that is no terminal)
	code      int
	stdout    []string // substrings of stdout
	stderr    []string // substrings of stderr
	check     func(t *testing.T, r result)
}

// TestCLI runs a whole administration session, step by step, on each
// database: every verb, its output, and its exit code for bad input.
func TestCLI(t *testing.T) {
	t.Parallel()
	for i := range drivers {
		d := &drivers[i]
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			testCLI(t, testEnv(t, d.env(t)...))
		})
	}
}

func testCLI(t *testing.T, environ []string) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "romeo.pw")
	if err := os.WriteFile(pwFile, []byte("wherefore-art-thou\nsecond line ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "stdin")
	if err := os.WriteFile(regular, []byte("not-a-terminal-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const (
		juliet = "juliet@capulet.example"
		romeo  = "romeo@montague.example"
		tybalt = "tybalt@capulet.example"
	)
	a := func(s string) []string { return strings.Fields(s) }
	notFound := func(addr string) cliStep {
		return cliStep{args: a("user show " + addr), code: exitNotFound, stderr: []string{"not found"}}
	}

	steps := []cliStep{
		{args: a("version"), stdout: []string{"tidings " + version + " (go"}},
		{args: a("help"), stdout: []string{"Usage: tidings COMMAND", "user add ADDRESS"}},
		{args: a("frobnicate"), code: exitUsage, stderr: []string{`unknown command "frobnicate"`, "Usage:"}},
		{args: a("user frobnicate"), code: exitUsage, stderr: []string{`unknown command "user frobnicate"`}},
		{args: a("version extra"), code: exitUsage, stderr: []string{"usage: tidings version"}},
		{args: a("user add --bogus x@capulet.example"), code: exitUsage, stderr: []string{"flag provided but not defined: -bogus"}},
		{args: a("user add -h"), code: exitOK, stderr: []string{"Usage: tidings user add", "-password-stdin"}},

		// Domains.
		{args: a("domain add capulet.example"), stdout: []string{"added domain capulet.example (mail on, xmpp on)"}},
		{args: a("domain add CAPULET.example."), code: exitConflict, stderr: []string{"already exists"}},
		{args: a("domain add bad_domain!.example"), code: exitInvalid, stderr: []string{"invalid domain"}},
		{args: a("domain add 192.0.2.1"), code: exitInvalid, stderr: []string{"not an IP address"}},
		{args: a("domain add"), code: exitUsage, stderr: []string{"usage: tidings domain add NAME"}},
		{args: a("domain add a.example b.example"), code: exitUsage},
		{args: a("domain add montague.example --xmpp off"), stdout: []string{"added domain montague.example (mail on, xmpp off)"}},
		{args: a("domain add münchen.example"), stdout: []string{"added domain münchen.example"}},

		// Users: every password source, and every refusal leaves nothing behind.
		{args: []string{"user", "add", juliet, "--password-stdin", "--name", "Juliet Capulet"}, stdin: "balcony-scene-2\n",
			stdout: []string{"created " + juliet + " (mail address and Jabber ID)"}},
		{args: a("user add --admin on --quota 2GiB --password-file " + pwFile + " " + romeo),
			stdout: []string{"created " + romeo}},
		{args: a("user add --password-stdin " + juliet), stdin: "balcony-scene-3\n", code: exitConflict, stderr: []string{"already exists"}},
		{args: a("user add --password-stdin JULIET@Capulet.Example"), stdin: "balcony-scene-3\n", code: exitConflict, stderr: []string{"already exists"}},
		{args: a("user add --password-stdin anna@münchen.example"), stdin: "oktoberfest-1\n", stdout: []string{"created anna@xn--mnchen-3ya.example"}},
		{args: a("user add --password-stdin bad<name>@capulet.example"), stdin: "long-enough-pw\n", code: exitInvalid, stderr: []string{"invalid localpart"}},
		{args: a("user add --password-stdin no-at-sign"), stdin: "long-enough-pw\n", code: exitInvalid, stderr: []string{"invalid address"}},
		{args: a("user add --password-stdin tybalt@verona.example"), stdin: "long-enough-pw\n", code: exitNotFound, stderr: []string{"domain verona.example: not found"}},
		{args: a("user add --password-stdin " + tybalt), stdin: "short\n", code: exitInvalid, stderr: []string{"password refused", "shorter than 10"}},
		notFound(tybalt),
		{args: a("user add --password-stdin " + tybalt), stdin: "", code: exitInvalid, stderr: []string{"password refused: empty"}},
		{args: a("user add " + tybalt), code: exitUsage, stderr: []string{"no terminal", "--password-stdin"}},
		{args: a("user add " + tybalt), stdinFile: regular, code: exitUsage, stderr: []string{"no terminal"}},
		{args: a("user add --password-stdin --password-file " + pwFile + " " + tybalt), code: exitUsage, stderr: []string{"not both"}},
		{args: a("user add --password-file " + filepath.Join(dir, "missing") + " " + tybalt), code: exitFailure, stderr: []string{"missing"}},
		{args: a("user add --quota lots --password-stdin " + tybalt), stdin: "long-enough-pw\n", code: exitUsage, stderr: []string{"--quota"}},
		{args: a("user add --admin maybe --password-stdin " + tybalt), stdin: "long-enough-pw\n", code: exitUsage, stderr: []string{"want on or off"}},
		{args: a("user add"), code: exitUsage, stderr: []string{"usage: tidings user add ADDRESS"}},
		{args: a("user add " + tybalt + " extra"), code: exitUsage},
		notFound(tybalt),

		// Showing and listing.
		{args: a("user show " + juliet), stdout: []string{
			"Address:      " + juliet, "Jabber ID:    " + juliet, "Name:         Juliet Capulet",
			"Status:       active", "Admin:        off", "XMPP switch:  on (domain: on)", "Quota:        unlimited",
			"Aliases:      (none)", "Can log in:   smtp, imap, xmpp, managesieve, webmail"}},
		{args: a("user show --json " + romeo), check: func(t *testing.T, r result) {
			v := decodeJSON[userView](t, r)
			if v.Address != romeo || !v.Admin || v.Quota != 2<<30 || v.Disabled || !v.DomainMail || v.DomainXMPP {
				t.Errorf("romeo = %+v", v)
			}
			want := map[string]bool{"smtp": true, "imap": true, "managesieve": true, "webmail": true, "xmpp": false}
			if fmt.Sprint(v.Services) != fmt.Sprint(want) {
				t.Errorf("services = %v, want %v", v.Services, want)
			}
			if v.Aliases == nil || len(v.Aliases) != 0 {
				t.Errorf("aliases = %#v, want []", v.Aliases)
			}
			if !strings.Contains(r.stdout, `"aliases": []`) {
				t.Errorf("no user has aliases: want an empty JSON list, not null:\n%s", r.stdout)
			}
		}},
		{args: a("user show nobody@capulet.example"), code: exitNotFound},
		{args: a("user show"), code: exitUsage},
		{args: a("user list"), check: func(t *testing.T, r result) {
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(lines) != 4 || !strings.HasPrefix(lines[0], "ADDRESS") {
				t.Fatalf("want a header and 3 users:\n%s", r.stdout)
			}
			for _, l := range lines[1:] {
				if !strings.Contains(l, "@") {
					t.Errorf("row %q", l)
				}
			}
			if !strings.Contains(r.stdout, romeo) || !strings.Contains(r.stdout, juliet) {
				t.Errorf("missing users:\n%s", r.stdout)
			}
		}},
		{args: a("user list capulet.example --json"), check: func(t *testing.T, r result) {
			us := decodeJSON[[]accounts.User](t, r)
			if len(us) != 1 || us[0].Address != juliet || us[0].DisplayName != "Juliet Capulet" {
				t.Errorf("users of capulet.example = %+v", us)
			}
		}},
		{args: a("user list verona.example --json"), code: exitNotFound, stderr: []string{"domain verona.example: not found"}},
		{args: a("user list a.example b.example"), code: exitUsage},

		// Passwords.
		{args: a("user passwd --password-stdin " + juliet), stdin: "a-rose-by-any-name\n", stdout: []string{"password changed for " + juliet}},
		{args: a("user passwd --password-stdin " + juliet), stdin: "rose\n", code: exitInvalid, stderr: []string{"password refused"}},
		{args: a("user passwd --password-stdin nobody@capulet.example"), stdin: "a-rose-by-any-name\n", code: exitNotFound},
		{args: a("user passwd " + juliet), code: exitUsage, stderr: []string{"no terminal"}},
		{args: a("version"), check: func(t *testing.T, _ result) {
			if _, err := login(t, environ, juliet, "a-rose-by-any-name"); err != nil {
				t.Errorf("new password: %v", err)
			}
			if _, err := login(t, environ, juliet, "balcony-scene-2"); !errors.Is(err, accounts.ErrBadCredentials) {
				t.Errorf("old password: %v, want %v", err, accounts.ErrBadCredentials)
			}
			if u, err := login(t, environ, romeo, "wherefore-art-thou"); err != nil || !u.Admin {
				t.Errorf("password from the file's first line: %+v, %v", u, err)
			}
		}},

		// Disable, enable, set.
		{args: a("user disable " + juliet), stdout: []string{juliet + " is now disabled"}},
		{args: a("user show --json " + juliet), check: func(t *testing.T, r result) {
			v := decodeJSON[userView](t, r)
			if !v.Disabled || slices.Contains(mapValues(v.Services), true) {
				t.Errorf("disabled user = %+v", v)
			}
			if _, err := login(t, environ, juliet, "a-rose-by-any-name"); !errors.Is(err, accounts.ErrDisabled) {
				t.Errorf("login when disabled: %v, want %v", err, accounts.ErrDisabled)
			}
		}},
		{args: a("user enable " + juliet), stdout: []string{juliet + " is now active"}},
		{args: a("user disable nobody@capulet.example"), code: exitNotFound},
		{args: a("user set " + juliet + " --name Jules --xmpp off --quota 1GiB --admin on"), stdout: []string{"updated " + juliet}},
		{args: a("user show --json " + juliet), check: func(t *testing.T, r result) {
			v := decodeJSON[userView](t, r)
			if v.Disabled || v.DisplayName != "Jules" || v.XMPPEnabled || v.Quota != 1<<30 || !v.Admin || v.Services["xmpp"] || !v.Services["imap"] {
				t.Errorf("after user set: %+v", v)
			}
		}},
		{args: []string{"user", "set", juliet, "--name", ""}, stdout: []string{"updated"}},
		{args: a("user show --json " + juliet), check: func(t *testing.T, r result) {
			if v := decodeJSON[userView](t, r); v.DisplayName != "" || v.Quota != 1<<30 {
				t.Errorf("--name \"\" clears the name and changes nothing else: %+v", v)
			}
		}},
		{args: a("user set " + juliet), code: exitUsage, stderr: []string{"nothing to change"}},
		{args: a("user set " + juliet + " --quota lots"), code: exitUsage},
		{args: a("user set nobody@capulet.example --name X"), code: exitNotFound},

		// Aliases.
		{args: a("alias add jules@capulet.example " + juliet), stdout: []string{"mail for jules@capulet.example now goes to " + juliet}},
		{args: a("alias add Jules@capulet.example " + juliet), code: exitConflict},
		{args: a("alias add " + romeo + " " + juliet), code: exitConflict, stderr: []string{"as user"}},
		{args: a("alias add --password-stdin x@capulet.example " + juliet), code: exitUsage},
		{args: a("alias add x@verona.example " + juliet), code: exitNotFound},
		{args: a("alias add x@capulet.example nobody@capulet.example"), code: exitNotFound},
		{args: a("alias add x@capulet.example"), code: exitUsage, stderr: []string{"usage: tidings alias add ALIAS USER"}},
		{args: a("alias add bad<x>@capulet.example " + juliet), code: exitInvalid},
		{args: a("user add --password-stdin jules@capulet.example"), stdin: "long-enough-pw\n", code: exitConflict, stderr: []string{"as alias"}},
		{args: a("alias list"), stdout: []string{"ALIAS", "DELIVERS TO", "jules@capulet.example  " + juliet}},
		{args: a("alias list --json montague.example"), check: func(t *testing.T, r result) {
			if as := decodeJSON[[]accounts.Alias](t, r); as == nil || len(as) != 0 {
				t.Errorf("want [], got %s", r.stdout)
			}
		}},
		{args: a("alias list --json"), check: func(t *testing.T, r result) {
			as := decodeJSON[[]accounts.Alias](t, r)
			if len(as) != 1 || as[0].Address != "jules@capulet.example" || as[0].Target != juliet || as[0].CreatedAt.IsZero() {
				t.Errorf("aliases = %+v", as)
			}
		}},
		{args: a("user show " + juliet), stdout: []string{"Aliases:      jules@capulet.example"}},
		{args: a("alias del jules@capulet.example"), stdout: []string{"deleted alias jules@capulet.example"}},
		{args: a("alias del jules@capulet.example"), code: exitNotFound},

		// Contacts and Sieve scripts.
		{args: a("contact add " + juliet + " --name Tybalt --email tybalt@capulet.example"), stdout: []string{"added contact"}},
		{args: a("contact add " + juliet + " --email not-an-address"), code: exitInvalid},
		{args: a("contact list " + juliet), stdout: []string{"Tybalt", "tybalt@capulet.example"}},
		{args: a("sieve put " + juliet + " main -"), stdin: `require "fileinto"; fileinto "Lists";`, stdout: []string{`stored script "main"`}},
		{args: a("sieve put " + juliet + " bad -"), stdin: "require \"fileinto\";\nfilinto \"x\";", code: exitInvalid,
			stderr: []string{`line 2:1: unknown command "filinto"`}},
		{args: a("sieve check -"), stdin: "if true { stop }", code: exitInvalid, stderr: []string{"line 1:"}},
		{args: a("sieve check " + juliet + " -"), stdin: "keep;", stdout: []string{"script is valid"}},
		{args: a("sieve activate " + juliet + " main"), stdout: []string{`script "main" is active`}},
		{args: a("sieve activate " + juliet + " nope"), code: exitNotFound},
		{args: a("sieve list " + juliet), stdout: []string{"main", "active"}},
		{args: a("sieve get " + juliet + " main"), stdout: []string{`fileinto "Lists";`}},
		{args: a("sieve delete " + juliet + " main"), code: exitConflict, stderr: []string{"active"}},
		{args: []string{"sieve", "activate", juliet, ""}, stdout: []string{"no script is active"}},
		{args: a("sieve delete " + juliet + " main"), stdout: []string{`deleted script "main"`}},
		{args: a("sieve list nobody@capulet.example"), code: exitNotFound},

		// Domain switches and deletion.
		{args: a("domain set montague.example --xmpp on"), stdout: []string{"domain montague.example: mail on, xmpp on"}},
		{args: a("domain set montague.example --mail off"), stdout: []string{"domain montague.example: mail off, xmpp on"}},
		{args: a("user show --json " + romeo), check: func(t *testing.T, r result) {
			v := decodeJSON[userView](t, r)
			if v.Services["imap"] || !v.Services["xmpp"] {
				t.Errorf("domain switches not applied: %v", v.Services)
			}
		}},
		{args: a("domain set montague.example"), code: exitUsage, stderr: []string{"nothing to change"}},
		{args: a("domain set montague.example --mail maybe"), code: exitUsage},
		{args: a("domain set verona.example --mail off"), code: exitNotFound},
		{args: a("domain list --json"), check: func(t *testing.T, r result) {
			ds := decodeJSON[[]accounts.Domain](t, r)
			var names []string
			for _, d := range ds {
				names = append(names, fmt.Sprintf("%s mail=%v xmpp=%v users=%d", d.Name, d.MailEnabled, d.XMPPEnabled, d.Users))
			}
			want := []string{"capulet.example mail=true xmpp=true users=1", "montague.example mail=false xmpp=true users=1",
				"xn--mnchen-3ya.example mail=true xmpp=true users=1"}
			if !slices.Equal(names, want) {
				t.Errorf("domains:\n got %q\nwant %q", names, want)
			}
		}},
		{args: a("domain list"), stdout: []string{"DOMAIN", "münchen.example", "montague.example  off"}},
		{args: a("domain list extra"), code: exitUsage},
		{args: a("domain del montague.example"), code: exitConflict, stderr: []string{"still has users", "force"}},
		{args: a("user show " + romeo), stdout: []string{romeo}},
		{args: a("domain del --force montague.example"), stdout: []string{"deleted domain montague.example"}},
		notFound(romeo),
		{args: a("domain del montague.example"), code: exitNotFound},
		{args: a("user del " + juliet), stdout: []string{"deleted " + juliet}},
		{args: a("user del " + juliet), code: exitNotFound},
		{args: a("domain del capulet.example"), stdout: []string{"deleted domain capulet.example"}},
	}

	for i := range steps {
		s := &steps[i]
		name := fmt.Sprintf("%02d %s", i, strings.Join(s.args, " "))
		ok := t.Run(name, func(t *testing.T) {
			var stdin io.Reader = strings.NewReader(s.stdin)
			if s.stdinFile != "" {
				f, err := os.Open(s.stdinFile)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				stdin = f
			}
			r := runCmd(t, environ, stdin, s.args...)
			if r.code != s.code {
				t.Fatalf("exit code %d, want %d\n%s", r.code, s.code, r)
			}
			for _, want := range s.stdout {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q\n%s", want, r)
				}
			}
			for _, want := range s.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q\n%s", want, r)
				}
			}
			if s.code != exitOK && r.stdout != "" {
				t.Errorf("a failed command printed to stdout:\n%s", r)
			}
			if s.code == exitOK && s.stderr == nil && r.stderr != "" {
				t.Errorf("a successful command printed to stderr:\n%s", r)
			}
			if s.check != nil {
				s.check(t, r)
			}
		})
		if !ok {
			t.Fatalf("step %q failed; the later steps depend on it", name)
		}
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	var out []V
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
