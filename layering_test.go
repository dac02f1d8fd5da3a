package tidings

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tidings/tidings"

// allowed maps each top-level folder to the folders it may import (besides
// itself). An entry with a slash allows one package subtree only. The
// module root package (this one) imports nothing.
var allowed = map[string][]string{
	"":           nil,
	"migrations": nil,
	"accounts":   {"migrations"},
	"filters":    {"migrations", "accounts"},
	"mail":       {"migrations", "accounts", "filters"},
	"xmpp":       {"migrations", "accounts"},
	"webmail":    {"migrations", "accounts", "filters", "mail/store"},
	"cmd":        {"*"},
	"bench":      {"*"},
	"internal":   nil, // small shared utilities: import nothing of ours, anyone may import them
}

// checkEdge reports whether package from (a path inside the module) may
// import package to.
func checkEdge(from, to string) error {
	if !strings.HasPrefix(to, module+"/") && to != module {
		return nil // not ours
	}
	rel := func(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }
	top := func(p string) string { t, _, _ := strings.Cut(rel(p), "/"); return t }
	ft, tt := top(from), top(to)
	rules, ok := allowed[ft]
	if !ok {
		return fmt.Errorf("%s: top-level folder %q has no import rule; add it to docs/architecture.md and this test", from, ft)
	}
	if ft == tt || tt == "internal" {
		return nil
	}
	for _, r := range rules {
		if r == "*" || r == tt || rel(to) == r || strings.HasPrefix(rel(to), r+"/") {
			return nil
		}
	}
	return fmt.Errorf("%s imports %s: %s may import only %v", rel(from), rel(to), ft, rules)
}

// TestImportRule walks every package's imports, test imports included.
func TestImportRule(t *testing.T) {
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := 0
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		f := strings.Fields(line)
		pkgs++
		for _, imp := range f[1:] {
			if err := checkEdge(f[0], imp); err != nil {
				t.Error(err)
			}
		}
	}
	if pkgs < 4 {
		t.Fatalf("go list found %d packages; the walk is broken", pkgs)
	}
}

// TestImportRuleCatches proves the rule fails on forbidden edges.
func TestImportRuleCatches(t *testing.T) {
	cases := []struct {
		from, to string
		ok       bool
	}{
		{"mail/smtpd", "xmpp/router", false},
		{"xmpp/c2s", "mail/store", false},
		{"accounts", "filters", false},
		{"migrations", "accounts", false},
		{"filters", "mail/store", false},
		{"webmail", "mail/queue", false},
		{"newthing", "accounts", false},
		{"webmail", "mail/store", true},
		{"webmail/admin", "mail/store/blob", true},
		{"mail/delivery", "filters", true},
		{"xmpp/router", "accounts", true},
		{"accounts", "migrations/dbtest", true},
		{"cmd/tidings", "xmpp/router", true},
		{"mail/smtpd", "github.com/emersion/go-smtp", true},
		{"xmpp/c2s", "internal/connlimit", true},
		{"internal/connlimit", "accounts", false},
	}
	for i, tc := range cases {
		t.Run(tc.from+"->"+tc.to, func(t *testing.T) {
			to := tc.to
			if !strings.Contains(to, ".") {
				to = module + "/" + to
			}
			err := checkEdge(module+"/"+tc.from, to)
			if (err == nil) != tc.ok {
				t.Errorf("%d: checkEdge(%s, %s) = %v, want ok=%v", i, tc.from, tc.to, err, tc.ok)
			}
		})
	}
}
