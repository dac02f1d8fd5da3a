package sieve

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// runEnv is testdata/run/<case>/env.json: the envelope and the hooks'
// answers.
type runEnv struct {
	From      *string             `json:"from"`
	To        string              `json:"to"`
	User      string              `json:"user"`
	Lists     map[string][]string `json:"lists"`     // canonical list URI -> members
	Mailboxes []string            `json:"mailboxes"` // existing mailboxes
	Online    map[string]string   `json:"online"`    // notify URI -> yes/no/maybe
	MaxSteps  int                 `json:"max_steps"`
	Timeout   string              `json:"timeout"`
}

// runOutcome is what result.golden holds.
type runOutcome struct {
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
	Reply  string  `json:"vacation_reply,omitempty"`
}

const defaultEML = "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\n" +
	"Subject: Lunch on Friday?\r\nMessage-ID: <lunch-1@example.org>\r\n" +
	"Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n\r\nShall we have lunch on Friday?\r\n"

// TestRunGolden runs each testdata/run/<case>/script.sieve against its
// message.eml (or a default one) and env.json, and compares the result
// as JSON with result.golden.
func TestRunGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/run/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := runCase(t, dir)
			compareGolden(t, filepath.Join(dir, "result.golden"), got)
		})
	}
}

func runCase(t *testing.T, dir string) string {
	src, err := os.ReadFile(filepath.Join(dir, "script.sieve"))
	if err != nil {
		t.Fatal(err)
	}
	re := readRunEnv(t, dir)
	opt := DefaultOptions()
	opt.MaxSteps = re.MaxSteps
	if re.Timeout != "" {
		opt.Timeout, _ = time.ParseDuration(re.Timeout)
	}
	s, err := Parse(src, opt)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	env := testEnv(t, dir, re)
	res, err := s.Run(context.Background(), env)
	out := runOutcome{Result: res}
	if err != nil {
		out.Error = err.Error()
		if !errors.Is(err, ErrBudget) && !errors.Is(err, ErrRuntime) && !errors.Is(err, ErrConflict) &&
			!errors.Is(err, ErrTooManyActions) && !errors.Is(err, ErrTooManyRedirects) && !errors.Is(err, ErrTooManyNotifies) {
			t.Errorf("error not typed: %v", err)
		}
	}
	if res != nil && res.Vacation != nil {
		date := time.Date(2023, 1, 2, 10, 5, 0, 0, time.UTC)
		out.Reply = string(ComposeVacation(res.Vacation, env, date, "reply-1@example.com"))
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func readRunEnv(t *testing.T, dir string) runEnv {
	var re runEnv
	b, err := os.ReadFile(filepath.Join(dir, "env.json"))
	if err == nil {
		if err := json.Unmarshal(b, &re); err != nil {
			t.Fatalf("env.json: %v", err)
		}
	}
	return re
}

func testEnv(t *testing.T, dir string, re runEnv) *Env {
	raw := defaultEML
	if b, err := os.ReadFile(filepath.Join(dir, "message.eml")); err == nil {
		raw = strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n")
	}
	m, err := NewMessage(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{From: "alice@example.org", To: re.To, User: re.User, Msg: m,
		Now: time.Date(2023, 1, 2, 10, 0, 0, 0, time.UTC)}
	if re.From != nil {
		env.From = *re.From
	}
	if env.To == "" {
		env.To = "bob@example.com"
	}
	if env.User == "" {
		env.User = "bob@example.com"
	}
	env.ListContains = func(_ context.Context, list, value string) (bool, error) {
		return slices.ContainsFunc(re.Lists[list], func(m string) bool { return strings.EqualFold(m, value) }), nil
	}
	env.ValidList = func(list string) bool { _, ok := re.Lists[list]; return ok }
	env.MailboxExists = func(_ context.Context, name string) bool { return slices.Contains(re.Mailboxes, name) }
	env.NotifyCapability = func(_ context.Context, uri, _ string) string {
		if v, ok := re.Online[uri]; ok {
			return v
		}
		return "maybe"
	}
	return env
}
