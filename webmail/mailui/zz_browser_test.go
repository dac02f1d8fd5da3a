//go:build browsercheck

package mailui_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tidings/tidings/webmail/web/webtest"
)

func TestBrowserShots(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 8; i++ {
		e.Deliver(t, e.Juliet, "", webtest.Message("Romeo Montague <romeo@montague.example>", e.Juliet.Address, "Plain hello number "+string(rune('A'+i)), "See https://example.org/ and\n\nregards"))
	}
	e.Deliver(t, e.Juliet, "", multipartMessage(hostileHTML))
	cmd := exec.Command("node", "/tmp/shots/shot.js", e.Server.URL, e.Juliet.Address, webtest.Password)
	cmd.Dir = "/work/main/cmd/tidings/testdata/web"
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	done := make(chan error, 1)
	go func() { done <- cmd.Run() }()
	// Deliver one more while the list is open: the live update must show it.
	time.Sleep(6 * time.Second)
	e.Deliver(t, e.Juliet, "", webtest.Message("Tybalt <tybalt@capulet.example>", e.Juliet.Address, "Live arrival", "hi"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
