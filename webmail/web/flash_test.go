package web

import "testing"

func TestFlashUnicode(t *testing.T) {
	for _, s := range []string{"Saved.", "Alias postmaster@bücher.example → admin; done, \"ok\"", ""} {
		if got := decodeFlash(encodeFlash(s)); got != s {
			t.Errorf("flash %q came back as %q", s, got)
		}
	}
}
