package sieve

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds scripts to Parse and runs the ones that compile against
// a small message; neither may panic.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/parse/*.sieve", "testdata/run/*/script.sieve"} {
		files, _ := filepath.Glob(dir)
		for _, file := range files {
			if src, err := os.ReadFile(file); err == nil {
				f.Add(src)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := Parse(src, DefaultOptions())
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		env := &Env{From: "a@example.org", To: "b+x@example.com", User: "b@example.com", Msg: fuzzMessage(t)}
		_, _ = s.Run(context.Background(), env)
	})
}

func fuzzMessage(t *testing.T) Message {
	raw := "From: A <a@example.org>\r\nTo: b@example.com\r\nSubject: hello world\r\n" +
		"Content-Type: text/plain\r\n\r\nbody text\r\n"
	m, err := NewMessage(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzMessage runs a script that touches headers, addresses and every
// body transform against arbitrary messages; it must not panic.
func FuzzMessage(f *testing.F) {
	files, _ := filepath.Glob("testdata/run/*/message.eml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(defaultEML))
	s, err := Parse([]byte(fuzzMessageScript), DefaultOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := NewMessage(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			return
		}
		env := &Env{From: "a@example.org", To: "b@example.com", User: "b@example.com", Msg: m}
		_, _ = s.Run(context.Background(), env)
	})
}

const fuzzMessageScript = `require ["body", "envelope", "variables", "vacation", "relational"];
if address :localpart :matches ["from", "to", "cc"] "*" { set "l" "${1}"; }
if header :count "ge" "received" "1" { keep; }
if body :raw :contains "x" { keep; }
if body :text :contains "x" { keep; }
if body :content ["text", "multipart", ""] :contains "x" { keep; }
vacation "away";
`
