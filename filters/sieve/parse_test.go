package sieve

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestParseGolden compiles each testdata/parse/*.sieve and compares the
// parse tree dump, or the error, with the .golden file beside it.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/parse/*.sieve")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sieve")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := parseOutcome(src)
			golden := strings.TrimSuffix(f, ".sieve") + ".golden"
			compareGolden(t, golden, got)
		})
	}
}

func parseOutcome(src []byte) string {
	s, err := Parse(src, DefaultOptions())
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return "unexpected error type: " + err.Error() + "\n"
		}
		return "error: " + err.Error() + "\n"
	}
	return "requires: " + strings.Join(s.Requires(), ", ") + "\n" + s.dump()
}

func compareGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("mismatch with %s:\n--- got\n%s--- want\n%s", golden, got, want)
	}
}
