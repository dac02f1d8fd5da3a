package managesieve

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/filters"
)

// Interop tests with clients not written here: sieve-connect (Perl,
// Debian package sieve-connect) and python3-sievelib. Both come from
// scripts/test.sh's DEB_PACKAGES. Without them the tests skip, except in
// CI (CI=true), where a missing client fails the test.

// need returns the path of a client program, or skips (fails in CI).
func need(t *testing.T, program, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		missing(t, program+" not installed (Debian package "+pkg+")")
	}
	return p
}

func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// realEngine makes the test server compile with the Sieve engine through
// filters.Check, as the wired server does.
func realEngine(s *Server) {
	cfg := s.Limits
	s.Scripts.SetCheck(func(src []byte) error { return filters.Check(cfg, string(src)) })
}

const (
	vacationScript = "require [\"vacation\"];\r\nvacation :days 3 \"I am away\";\r\n"
	mainScript     = "require [\"fileinto\"];\r\nif header :contains \"subject\" \"sieve\" { fileinto \"Sieve\"; }\r\n"
)

// TestSieveConnect drives sieve-connect one action at a time: upload,
// list, activate, download, check, deactivate, delete. It verifies our
// certificate with --notlsverify (the test certificate is self-signed)
// and is told to refuse PLAIN in clear text (--noclearauth).
func TestSieveConnect(t *testing.T) {
	bin := need(t, "sieve-connect", "sieve-connect")
	e := newEnv(t, realEngine)
	host, port, _ := net.SplitHostPort(e.addr)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	vacation := write("vacation.sieve", vacationScript)
	main := write("main.sieve", mainScript)
	bad := write("bad.sieve", "bogus;\r\n")

	run := func(args ...string) (string, error) {
		t.Helper()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString(pw + "\n") // --passwordfd: the password never shows in argv or environ
		w.Close()
		defer r.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		all := append([]string{"--nosrv", "--server", host, "--port", port, "--user", julietAddr,
			"--passwordfd", "3", "--notlsverify", "--noclearauth", "--authmech", "PLAIN"}, args...)
		cmd := exec.CommandContext(ctx, bin, all...)
		cmd.ExtraFiles = []*os.File{r}
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		t.Logf("sieve-connect %s:\n%s", strings.Join(args, " "), out)
		return string(out), err
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("sieve-connect %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	mustRun("--localsieve", vacation, "--remotesieve", "vacation", "--upload")
	mustRun("--localsieve", main, "--remotesieve", "main", "--upload")
	if out, err := run("--localsieve", bad, "--remotesieve", "bad", "--upload"); err == nil ||
		!strings.Contains(out, "line 1") {
		t.Errorf("upload of a broken script: %v\n%s", err, out)
	}
	if out, err := run("--localsieve", bad, "--checkscript"); err == nil {
		t.Errorf("checkscript of a broken script: %v\n%s", err, out)
	}
	mustRun("--localsieve", main, "--checkscript")
	if out := mustRun("--list"); !strings.Contains(out, "\"main\"\n") || !strings.Contains(out, "\"vacation\"\n") {
		t.Errorf("list: %q", out)
	}
	mustRun("--remotesieve", "vacation", "--activate")
	if out := mustRun("--list"); !strings.Contains(out, `"vacation" ACTIVE`) {
		t.Errorf("list after activate: %q", out)
	}
	got := filepath.Join(dir, "got.sieve")
	mustRun("--remotesieve", "vacation", "--localsieve", got, "--download")
	if b, err := os.ReadFile(got); err != nil || string(b) != vacationScript {
		t.Errorf("downloaded %q %v, want %q", b, err, vacationScript)
	}
	if out, err := run("--remotesieve", "vacation", "--delete"); err == nil {
		t.Errorf("deleting the active script: %v\n%s", err, out)
	}
	mustRun("--deactivate")
	mustRun("--remotesieve", "main", "--delete")

	list, err := e.scripts.List(t.Context(), e.juliet.ID)
	if err != nil || len(list) != 1 || list[0].Name != "vacation" || list[0].Active {
		t.Errorf("store after sieve-connect: %+v %v", list, err)
	}
}

// TestSievelib runs testdata/sievelib_client.py (python3-sievelib's
// managesieve.Client): STARTTLS, AUTHENTICATE PLAIN, HAVESPACE, PUTSCRIPT,
// CHECKSCRIPT, SETACTIVE, LISTSCRIPTS, GETSCRIPT, RENAMESCRIPT,
// DELETESCRIPT, LOGOUT.
func TestSievelib(t *testing.T) {
	// Debian's python3, not whatever python3 comes first on PATH (a pyenv
	// without Debian's packages).
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		missing(t, "/usr/bin/python3 not installed (Debian package python3)")
	}
	if out, err := exec.Command(python, "-c", "import sievelib.managesieve").CombinedOutput(); err != nil {
		missing(t, "python3-sievelib not installed: "+strings.TrimSpace(string(out)))
	}
	e := newEnv(t, realEngine)
	host, port, _ := net.SplitHostPort(e.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/sievelib_client.py", host, port, julietAddr, pw)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sievelib: %v\n%s\n%s", err, out, stderr.String())
	}
	t.Logf("sievelib: %s", out)
	var got struct {
		Connect          bool     `json:"connect"`
		Implementation   string   `json:"implementation"`
		SASL             []string `json:"sasl"`
		Sieve            []string `json:"sieve"`
		HaveSpace        bool     `json:"havespace"`
		HaveSpaceBig     bool     `json:"havespace_big"`
		PutVacation      bool     `json:"put_vacation"`
		PutMain          bool     `json:"put_main"`
		PutBad           bool     `json:"put_bad"`
		PutBadError      string   `json:"put_bad_error"`
		CheckGood        bool     `json:"check_good"`
		SetActive        bool     `json:"setactive"`
		ListActive       string   `json:"list_active"`
		ListOthers       []string `json:"list_others"`
		GetVacation      string   `json:"get_vacation"`
		DeleteActive     bool     `json:"delete_active"`
		DeleteActiveCode string   `json:"delete_active_code"`
		Rename           bool     `json:"rename"`
		Delete           bool     `json:"delete"`
		GetMissing       *string  `json:"get_missing"`
		SetActiveNone    bool     `json:"setactive_none"`
		ListAfter        []any    `json:"list_after"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("sievelib output: %v\n%s", err, out)
	}
	if !got.Connect || got.Implementation != "Tidings" || !slices.Equal(got.SASL, []string{"PLAIN"}) ||
		!slices.Contains(got.Sieve, "vacation") {
		t.Errorf("connect %v, implementation %q, SASL %q, SIEVE %q", got.Connect, got.Implementation, got.SASL, got.Sieve)
	}
	if !got.HaveSpace || got.HaveSpaceBig {
		t.Errorf("HAVESPACE small %v, big %v", got.HaveSpace, got.HaveSpaceBig)
	}
	if !got.PutVacation || !got.PutMain || got.PutBad || !strings.HasPrefix(got.PutBadError, "line 1:") {
		t.Errorf("PUTSCRIPT vacation %v, main %v, bad %v (%q)", got.PutVacation, got.PutMain, got.PutBad, got.PutBadError)
	}
	if !got.CheckGood || !got.SetActive || got.ListActive != "vacation" || !slices.Equal(got.ListOthers, []string{"main"}) {
		t.Errorf("CHECKSCRIPT %v, SETACTIVE %v, LISTSCRIPTS %q %q", got.CheckGood, got.SetActive, got.ListActive, got.ListOthers)
	}
	// sievelib joins the lines with "\n" and drops the last line break.
	if want := strings.TrimSuffix(strings.ReplaceAll(vacationScript, "\r\n", "\n"), "\n"); got.GetVacation != want {
		t.Errorf("GETSCRIPT %q, want %q", got.GetVacation, want)
	}
	if got.DeleteActive || got.DeleteActiveCode != "ACTIVE" || !got.Rename || !got.Delete || got.GetMissing != nil {
		t.Errorf("DELETESCRIPT active %v (%q), RENAMESCRIPT %v, DELETESCRIPT %v, GETSCRIPT missing %v",
			got.DeleteActive, got.DeleteActiveCode, got.Rename, got.Delete, got.GetMissing)
	}
	if !got.SetActiveNone || len(got.ListAfter) != 2 || got.ListAfter[0] != nil {
		t.Errorf("SETACTIVE \"\" %v, LISTSCRIPTS %v", got.SetActiveNone, got.ListAfter)
	}
}
