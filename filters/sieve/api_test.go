package sieve

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustParse(t testing.TB, src string, opt Options) *Script {
	t.Helper()
	s, err := Parse([]byte(src), opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustMessage(t testing.TB, raw string) Message {
	t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	m, err := NewMessage(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSupportedSorted(t *testing.T) {
	s := Supported()
	if !slices.IsSorted(s) || len(s) == 0 {
		t.Fatalf("Supported() = %v", s)
	}
	s[0] = "mutated"
	if Supported()[0] == "mutated" {
		t.Fatal("Supported returns shared state")
	}
}

func TestOptionsLimits(t *testing.T) {
	opt := DefaultOptions()
	opt.MaxScriptSize = 10
	if _, err := Parse([]byte("keep; keep; keep;"), opt); err == nil || !strings.Contains(err.Error(), "larger than 10") {
		t.Errorf("size limit: %v", err)
	}
	opt = DefaultOptions()
	opt.Extensions = []string{"fileinto"}
	if _, err := Parse([]byte(`require "vacation";`), opt); err == nil {
		t.Error("disabled extension accepted")
	}
	if _, err := Parse([]byte(`require "fileinto"; fileinto "x";`), opt); err != nil {
		t.Errorf("enabled extension: %v", err)
	}
}

func TestRequires(t *testing.T) {
	s := mustParse(t, `require ["fileinto", "copy"]; require "fileinto";`, Options{})
	if got := s.Requires(); !slices.Equal(got, []string{"fileinto", "copy"}) {
		t.Fatalf("Requires() = %v", got)
	}
}

func TestErrorType(t *testing.T) {
	_, err := Parse([]byte("keep;\n  fileinto \"x\";"), Options{})
	var e *Error
	if !errors.As(err, &e) || e.Line != 2 || e.Col != 3 {
		t.Fatalf("err = %#v", err)
	}
	if err.Error() != `line 2:3: fileinto requires "fileinto" in a require command` {
		t.Fatalf("text: %q", err.Error())
	}
}

func TestRunContextCancelled(t *testing.T) {
	s := mustParse(t, `if header :contains "subject" "x" { keep; }`, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	env := &Env{Msg: mustMessage(t, "Subject: y\n\nbody\n")}
	// A short script may finish before the first check; a long one must not.
	long := strings.Repeat(`if header :contains "subject" "x" { keep; }`+"\n", 200)
	s = mustParse(t, long, Options{})
	if _, err := s.Run(ctx, env); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// slowMessage makes every header look-up slow so the timeout fires.
type slowMessage struct{ Message }

func (m slowMessage) Header(name string) []string {
	time.Sleep(time.Millisecond)
	return m.Message.Header(name)
}

func TestRunTimeout(t *testing.T) {
	long := strings.Repeat(`if exists "x" { keep; }`+"\n", 500)
	opt := DefaultOptions()
	opt.Timeout = 20 * time.Millisecond
	s := mustParse(t, long, opt)
	env := &Env{Msg: slowMessage{mustMessage(t, "Subject: y\n\nbody\n")}}
	start := time.Now()
	_, err := s.Run(context.Background(), env)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("took %v", d)
	}
}

func TestHeavyAllof(t *testing.T) {
	// Many expensive tests: bounded by MaxSteps, never by script shape.
	src := `require "variables"; set "a" "` + strings.Repeat("ab", 4000) + `";`
	inner := `string :matches "${a}" "*a?b*a?b*z*"`
	list := "not " + inner
	for i := 0; i < 200; i++ {
		list += ", not " + inner
	}
	s := mustParse(t, src+"if anyof(not allof("+list+"), true) { keep; }", Options{})
	_, err := s.Run(context.Background(), &Env{Msg: mustMessage(t, "Subject: y\n\nb\n")})
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("err = %v", err)
	}
}

func TestVariableMemoryBound(t *testing.T) {
	src := `require "variables"; set "a" "0123456789abcdef";` +
		strings.Repeat(`set "a" "${a}${a}${a}${a}";`, 20)
	for i := 0; i < 100; i++ {
		src += `set "v` + itoa(int64(i)) + `" "${a}";`
	}
	s := mustParse(t, src, Options{})
	_, err := s.Run(context.Background(), &Env{Msg: mustMessage(t, "Subject: y\n\nb\n")})
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrentRuns(t *testing.T) {
	s := mustParse(t, bench50, Options{})
	m := mustMessage(t, benchEML)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := &Env{From: "alice@example.org", To: "bob@example.com", User: "bob@example.com", Msg: m}
			if _, err := s.Run(context.Background(), env); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func TestMessageHeaders(t *testing.T) {
	m := mustMessage(t, "Subject: =?utf-8?q?caf=C3=A9?= au\n lait\nX-A: 1\nx-a: 2\n\nbody\n")
	if got := m.Header("subject"); len(got) != 1 || got[0] != "café au lait" {
		t.Errorf("Subject = %q", got)
	}
	if got := m.Header("X-A"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("X-A = %q", got)
	}
	body, err := m.Body(context.Background(), "raw", nil)
	if err != nil || len(body) != 1 || body[0] != "body\r\n" {
		t.Errorf("raw body = %q, %v", body, err)
	}
}

func TestMessageBrokenHeader(t *testing.T) {
	m := mustMessage(t, "Subject: ok\nthis line has no colon\n\nthe body\n")
	if got := m.Header("Subject"); len(got) != 1 {
		t.Errorf("Subject = %q", got)
	}
	body, err := m.Body(context.Background(), "text", nil)
	if err != nil || len(body) == 0 || !strings.Contains(body[0], "the body") {
		t.Errorf("body = %q, %v", body, err)
	}
}

func TestComposeVacationHeaders(t *testing.T) {
	env := &Env{User: "bob@example.com", Msg: mustMessage(t,
		"From: a@example.org\nSubject: Hi\r\nBcc: x\nMessage-ID: <m1@example.org>\nReferences: <m0@example.org>\n\nx\n")}
	v := &Vacation{Subject: "evil\r\nBcc: victim@example.net", Reason: "line1\nline2", Sender: "a@example.org"}
	out := string(ComposeVacation(v, env, time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC), "id@example.com"))
	for _, want := range []string{
		"From: <bob@example.com>\r\n", "To: <a@example.org>\r\n",
		"Subject: evil  Bcc: victim@example.net\r\n", "In-Reply-To: <m1@example.org>\r\n",
		"References: <m0@example.org> <m1@example.org>\r\n", "Auto-Submitted: auto-replied\r\n",
		"Message-ID: <id@example.com>\r\n", "\r\n\r\nline1\r\nline2\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("reply lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\nBcc:") {
		t.Errorf("header injection:\n%s", out)
	}
}

// TestConstantListsNotShared: results and :count never alias a script's
// constant lists.
func TestConstantListsNotShared(t *testing.T) {
	s := mustParse(t, `require ["enotify", "variables", "relational", "vacation"];
if string :count "eq" ["", "a", "", "b"] "2" { notify :options ["k=v", "x=y"] "mailto:a@example.com"; }
vacation :addresses ["me@example.com"] "away";`, Options{})
	env := &Env{From: "x@example.org", To: "bob@example.com", User: "bob@example.com",
		Msg: mustMessage(t, "To: bob@example.com\nSubject: s\n\nb\n")}
	for i := 0; i < 2; i++ {
		res, err := s.Run(context.Background(), env)
		if err != nil || len(res.Notifies) != 1 || res.Vacation == nil {
			t.Fatalf("run %d: %+v, %v", i, res, err)
		}
		res.Notifies[0].Options[0] = "mutated"
		res.Vacation.Addresses[0] = "mutated"
	}
}
