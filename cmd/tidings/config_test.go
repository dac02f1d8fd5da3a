package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/example.toml from `tidings config example`")

const goldenExample = "testdata/example.toml"

// TestConfigExample checks `config example` against the golden file and that
// it does not depend on the environment: it documents the defaults, not this
// machine. Regenerate with go test ./cmd/tidings -run TestConfigExample -update.
func TestConfigExample(t *testing.T) {
	t.Parallel()
	r := runCmd(t, nil, nil, "config", "example")
	if r.code != exitOK || r.stderr != "" {
		t.Fatal(r)
	}
	if *update {
		if err := os.WriteFile(goldenExample, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenExample)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if r.stdout != string(want) {
		t.Errorf("config example differs from %s (run with -update if the change is intended):\n%s",
			goldenExample, lineDiff(string(want), r.stdout))
	}

	// The environment and the configuration file change the configuration,
	// not the example of its defaults.
	environ := testEnv(t, "TIDINGS_DATA_DIR=/somewhere/else", "TIDINGS_DATABASE_DRIVER=postgres",
		"TIDINGS_DATABASE_DSN=postgres://u:p@db/x", "TIDINGS_ACCOUNTS_MIN_PASSWORD_LENGTH=30")
	if r2 := runCmd(t, environ, nil, "config", "example"); r2.code != exitOK || r2.stdout != r.stdout {
		t.Errorf("config example depends on the environment:\n%s", lineDiff(r.stdout, r2.stdout))
	}

	// The machine-dependent defaults stay empty: they are filled at load time.
	for _, want := range []string{"\nhostname = \"\"\n", "\ndsn = \"\"\n", "\ndata_dir = \"data\"\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("example lacks %q", want)
		}
	}
	if h, _ := os.Hostname(); h != "" && strings.Contains(r.stdout, `"`+h+`"`) {
		t.Errorf("example holds this machine's name %q", h)
	}
}

// lineDiff lists the lines that differ, for failure messages.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + wl + "\n  got  " + gl + "\n")
		}
	}
	return b.String()
}

// TestConfigExampleRoundTrip feeds the example back: `config check` accepts
// it, and it loads to exactly the defaults.
func TestConfigExampleRoundTrip(t *testing.T) {
	t.Parallel()
	r := runCmd(t, nil, nil, "config", "example")
	path := filepath.Join(t.TempDir(), "example.toml")
	if err := os.WriteFile(path, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	// No environment at all: only the file.
	if c := runCmd(t, nil, nil, "config", "check", "--config", path); c.code != exitOK ||
		!strings.Contains(c.stdout, "configuration OK ("+path+")") {
		t.Fatalf("config check of the example: %s", c)
	}
	cfg, got, err := loadConfig(path, []string{"TIDINGS_HOSTNAME=" + testHostname})
	if err != nil || got != path {
		t.Fatalf("loadConfig(example) = %q, %v", got, err)
	}
	def := DefaultConfig()
	def.Hostname = testHostname
	def.resolve()
	var a, b bytes.Buffer
	writeExample(&a, def)
	writeExample(&b, cfg)
	if a.String() != b.String() {
		t.Errorf("the example does not load to the defaults:\n%s", lineDiff(a.String(), b.String()))
	}
}

// TestConfigErrors checks that a bad configuration is reported in full,
// with exit code 5, by every command, before anything is touched.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.toml", `
hostname = "mail.capulet.example"
colour = "blue"        # unknown key

[log]
level = "loud"         # invalid value

[database]
max_conns = "many"     # wrong type
max_readers = 0        # invalid value (checked by package migrations)
busy_timeout = 5       # a number where a duration belongs

[accounts]
scram_iterations = 1000  # invalid value (checked by package accounts)

[listen]
imaps = "993"          # not host:port

[acounts.throttle]     # unknown section
ip_free = 3
`)
	syntax := write("syntax.toml", "[log\nlevel = \"info\"\n")
	missing := filepath.Join(dir, "missing.toml")
	onlyCert := write("onlycert.toml", "[tls]\ncert_file = \""+bad+"\"\n")

	allProblems := []string{
		bad + ":",
		`unknown key "colour"`,
		`log.level: "loud"`,
		`database.max_conns: want an integer, not string many`,
		`database.max_readers: must be at least 1`,
		`database.busy_timeout: want a duration string`,
		`accounts.scram_iterations: 1000 is below the minimum`,
		`listen.imaps: "993" is not host:port`,
		`unknown key "acounts.throttle.ip_free"`,
		`TIDINGS_LISTEN_SMPT is not a configuration key`,
		`TIDINGS_ACCOUNTS_MIN_PASSWORD_LENGTH (accounts.min_password_length): strconv.ParseInt`,
	}
	badEnv := []string{"TIDINGS_LISTEN_SMPT=:25", "TIDINGS_ACCOUNTS_MIN_PASSWORD_LENGTH=twelve"}

	tests := []struct {
		name    string
		args    []string
		env     []string
		wantErr []string
	}{
		{"check all problems", []string{"config", "check", "--config", bad}, badEnv, allProblems},
		{"user list all problems", []string{"user", "list", "--config", bad}, badEnv, allProblems},
		{"serve all problems", []string{"serve", "--config", bad, "--domain", "capulet.example"}, badEnv, allProblems},
		{"domain add via TIDINGS_CONFIG", []string{"domain", "add", "capulet.example"},
			append([]string{"TIDINGS_CONFIG=" + bad}, badEnv...), allProblems},
		{"syntax error", []string{"config", "check", "--config", syntax}, nil, []string{syntax, "toml: line 2"}},
		{"missing --config", []string{"config", "check", "--config", missing}, nil, []string{missing, "no such file"}},
		{"missing TIDINGS_CONFIG", []string{"user", "list"}, []string{"TIDINGS_CONFIG=" + missing}, []string{missing, "no such file"}},
		{"missing config for serve", []string{"serve", "--config", missing}, nil, []string{missing}},
		{"cert without key", []string{"config", "check", "--config", onlyCert}, nil, []string{"set both cert_file and key_file"}},
		{"env only", []string{"config", "check"}, []string{"TIDINGS_DATA_DIR=", "TIDINGS_LOG_FORMAT=xml",
			"TIDINGS_DOMAINS=ok.example,bad_domain!", "TIDINGS_DATABASE_DRIVER=mysql", "TIDINGS_LISTEN_ADMIN=127.0.0.1:1",
			"TIDINGS_LISTEN_SMTP=127.0.0.1:1"},
			[]string{"configuration:", "data_dir: must not be empty", `log.format: "xml"`, "domains: invalid domain",
				`database.driver: "mysql" is not supported`, "listen.smtp: 127.0.0.1:1 is already used by listen.admin"}},
		{"bad duration in env", []string{"config", "check"}, []string{"TIDINGS_ACCOUNTS_THROTTLE_WINDOW=forever"},
			[]string{"TIDINGS_ACCOUNTS_THROTTLE_WINDOW (accounts.throttle.window)"}},
		{"bad size in env", []string{"config", "check"}, []string{"TIDINGS_ACCOUNTS_DEFAULT_QUOTA=lots"},
			[]string{"TIDINGS_ACCOUNTS_DEFAULT_QUOTA (accounts.default_quota)", "invalid size"}},
	}
	for i := range tests {
		tc := &tests[i]
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Not testEnv: its overrides of hostname, listeners and SCRAM
			// iterations would hide the file's values.
			data := t.TempDir()
			environ := withEnv([]string{"TIDINGS_DATA_DIR=" + data}, tc.env...)
			r := runCmd(t, environ, nil, tc.args...)
			if r.code != exitInvalid {
				t.Fatalf("exit code %d, want %d\n%s", r.code, exitInvalid, r)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q\n%s", want, r)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
			if ents, _ := os.ReadDir(data); len(ents) > 0 {
				t.Errorf("a refused configuration still wrote to the data directory: %v", ents)
			}
		})
	}
}

// TestConfigPrecedence checks defaults < file < environment, with lists
// from the environment split at commas.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tidings.toml")
	if err := os.WriteFile(file, []byte(`
domains = ["file.example"]
[accounts]
min_password_length = 20
default_quota = "1GiB"
[accounts.throttle]
window = "1h"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     []string
		domains []string
		minLen  int
		window  time.Duration
	}{
		{"file", nil, []string{"file.example"}, 20, time.Hour},
		{"env wins", []string{"TIDINGS_ACCOUNTS_MIN_PASSWORD_LENGTH=12", "TIDINGS_DOMAINS= a.example , b.example,"},
			[]string{"a.example", "b.example"}, 12, time.Hour},
		{"empty list", []string{"TIDINGS_DOMAINS="}, nil, 20, time.Hour},
		{"duration", []string{"TIDINGS_ACCOUNTS_THROTTLE_WINDOW=90s"}, []string{"file.example"}, 20, 90 * time.Second},
	}
	for i := range tests {
		tc := &tests[i]
		t.Run(tc.name, func(t *testing.T) {
			environ := withEnv(testEnv(t, tc.env...), "TIDINGS_CONFIG="+file)
			cfg, path, err := loadConfig("", environ)
			if err != nil || path != file {
				t.Fatalf("loadConfig: %q %v", path, err)
			}
			if !slices.Equal(cfg.Domains, tc.domains) || cfg.Accounts.MinPasswordLength != tc.minLen ||
				cfg.Accounts.Throttle.Window != tc.window || cfg.Accounts.DefaultQuota != 1<<30 {
				t.Errorf("got domains %q, min_password_length %d, window %v, quota %v",
					cfg.Domains, cfg.Accounts.MinPasswordLength, cfg.Accounts.Throttle.Window, cfg.Accounts.DefaultQuota)
			}
			if cfg.Listen.SMTP != "" || cfg.Listen.Admin != "" {
				t.Errorf("an empty TIDINGS_LISTEN_* must switch the listener off: %+v", cfg.Listen)
			}
			if want := filepath.Join(envValue(environ, "TIDINGS_DATA_DIR"), "tidings.db"); cfg.Database.DSN != want {
				t.Errorf("SQLite DSN %q, want %q", cfg.Database.DSN, want)
			}
		})
	}
}

// TestEnvOverridePasswordPolicy shows an override reaching the store: the
// same 15-character password is accepted by default and refused with
// TIDINGS_ACCOUNTS_MIN_PASSWORD_LENGTH=20.
func TestEnvOverridePasswordPolicy(t *testing.T) {
	t.Parallel()
	const pw = "fifteen-chars!!" // 15
	tests := []struct {
		name   string
		env    []string
		code   int
		stderr string
	}{
		{"default", nil, exitOK, ""},
		{"min 20", []string{"TIDINGS_ACCOUNTS_MIN_PASSWORD_LENGTH=20"}, exitInvalid, "shorter than 20 characters"},
		{"min 15", []string{"TIDINGS_ACCOUNTS_MIN_PASSWORD_LENGTH=15"}, exitOK, ""},
	}
	for i := range tests {
		tc := &tests[i]
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			environ := testEnv(t, tc.env...)
			if r := runCmd(t, environ, nil, "domain", "add", "capulet.example"); r.code != exitOK {
				t.Fatal(r)
			}
			r := runCmd(t, environ, strings.NewReader(pw+"\n"), "user", "add", "--password-stdin", "juliet@capulet.example")
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("want exit %d and %q:\n%s", tc.code, tc.stderr, r)
			}
			want := exitOK
			if tc.code != exitOK {
				want = exitNotFound
			}
			if s := runCmd(t, environ, nil, "user", "show", "juliet@capulet.example"); s.code != want {
				t.Errorf("user show after user add: exit %d, want %d\n%s", s.code, want, s)
			}
		})
	}
}
