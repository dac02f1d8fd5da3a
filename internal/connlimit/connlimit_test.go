package connlimit

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int32
	lim := &Limiter{Max: 2}
	l := lim.Wrap(ln, []byte("421 busy\r\n"), func(netip.Addr) { refused.Add(1) })
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	a, b := <-accepted, <-accepted
	third := dial()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, _ := bufio.NewReader(third).ReadString('\n'); !strings.HasPrefix(line, "421 busy") || refused.Load() != 1 {
		t.Fatalf("third connection: %q, refused %d", line, refused.Load())
	}
	a.Close()
	a.Close() // frees one slot, once
	dial()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("slot not freed")
	}
	fourth := dial()
	fourth.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, _ := bufio.NewReader(fourth).ReadString('\n'); !strings.HasPrefix(line, "421") {
		t.Fatalf("double Close freed two slots: %q", line)
	}
	b.Close()
}

func TestRemoteIP(t *testing.T) {
	if ip := RemoteIP(&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 1}); ip.String() != "192.0.2.1" {
		t.Errorf("mapped: %v", ip)
	}
	if ip := RemoteIP(nil); ip.IsValid() {
		t.Errorf("nil: %v", ip)
	}
}
