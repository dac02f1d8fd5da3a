package sieve

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// sievelibStricter lists scripts python3-sievelib accepts and this engine
// refuses, each because the script breaks an RFC that sievelib does not
// check. Any other script sievelib accepts must compile here.
var sievelibStricter = map[string]string{
	"err_address_header":    "RFC 5228 §5.1: address tests apply to address header fields",
	"err_bad_redirect":      "RFC 5228 §4.2: redirect needs an RFC 5322 address",
	"err_duplicate_tag":     "RFC 5228 §2.6.2: a tagged argument may appear once",
	"err_else_with_test":    "RFC 5228 §3.1: else takes no test",
	"err_encoded_unicode":   "RFC 5228 §2.4.2.4: surrogates are not Unicode scalar values",
	"err_envelope_part":     "RFC 5228 §5.4: envelope parts are \"from\" and \"to\"",
	"err_header_name":       "RFC 5322 §3.6.8: a field name has no spaces or colons",
	"err_match_conflict":    "RFC 5228 §2.7.1: one match type per test",
	"err_nesting":           "our nesting limit (Options.MaxNesting)",
	"err_number_too_large":  "RFC 5228 §2.4.1: numbers fit 63 bits after the quantifier",
	"err_require_late":      "RFC 5228 §3.2: require comes first",
	"err_set_namespace":     "RFC 5229 §3: no variable namespaces are supported",
	"err_setflag_varname":   "RFC 5232 §3: the variable-name form needs \"variables\"",
	"err_unsupported_ext":   "we do not implement regex (a draft, not an RFC)",
	"err_vacation_from":     "RFC 5230 §4.4: :from must be an address",
	"err_var_namespace_ref": "RFC 5229 §3: no variable namespaces are supported",
}

// TestSievelibAgrees runs python3-sievelib's parser (Debian package
// python3-sievelib) over every script in testdata: each script it accepts
// compiles here too, unless sievelibStricter explains why not.
func TestSievelibAgrees(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import sievelib.parser").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-sievelib missing in CI (scripts/test.sh installs it): %v", err)
		}
		t.Skipf("python3-sievelib not installed: %v", err)
	}
	var paths []string
	for _, glob := range []string{"testdata/parse/*.sieve", "testdata/run/*/script.sieve", "testdata/sievelib/*.sieve"} {
		m, _ := filepath.Glob(glob)
		paths = append(paths, m...)
	}
	out, err := exec.Command(python, append([]string{"testdata/sievelib/check.py"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("sievelib: %v", err)
	}
	var verdict map[string]string
	if err := json.Unmarshal(out, &verdict); err != nil {
		t.Fatalf("sievelib output: %v\n%s", err, out)
	}
	accepted := 0
	for _, p := range paths {
		if verdict[p] != "" {
			continue
		}
		accepted++
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, perr := Parse(src, DefaultOptions())
		name := filepath.Base(p[:len(p)-len(".sieve")])
		why, stricter := sievelibStricter[name]
		switch {
		case perr != nil && !stricter:
			t.Errorf("%s: sievelib accepts it, we refuse: %v", p, perr)
		case perr == nil && stricter:
			t.Errorf("%s: listed as refused here (%s) but it compiles", p, why)
		}
	}
	if accepted < 40 {
		t.Errorf("sievelib accepted only %d of %d scripts; is it working?", accepted, len(paths))
	}
	t.Logf("sievelib accepted %d of %d scripts", accepted, len(paths))
}
