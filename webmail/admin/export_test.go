package admin

// Patterns lists every route of the console, for the access-control test.
func Patterns() []string {
	var out []string
	for _, r := range (&console{}).routes() {
		out = append(out, r.pattern)
	}
	return out
}
