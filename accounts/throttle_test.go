package accounts

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func testThrottle() (*Throttle, *time.Time) {
	cfg := DefaultConfig().Throttle
	cfg.IPFree, cfg.AccountFree = 3, 5
	cfg.BaseDelay, cfg.MaxDelay, cfg.AccountMax = time.Second, 8*time.Second, 4*time.Second
	cfg.Window = time.Minute
	cfg.MaxTrackedKey = 100
	th := NewThrottle(cfg, nil, nil)
	now := time.Unix(1_000_000, 0)
	th.now = func() time.Time { return now }
	return th, &now
}

func retryAfter(err error) time.Duration {
	var te *ThrottledError
	if errors.As(err, &te) {
		return te.RetryAfter
	}
	return 0
}

func TestThrottleIPBackoff(t *testing.T) {
	th, now := testThrottle()
	ip := netip.MustParseAddr("192.0.2.7")
	want := []time.Duration{0, 0, 0, 1, 2, 4, 8, 8} // seconds after failure n
	for i, w := range want {
		if err := th.Check(ip, "u"+string(rune('a'+i))+"@x"); err != nil {
			t.Fatalf("attempt %d refused before its delay ran out: %v", i, err)
		}
		th.Failure(ip, "u"+string(rune('a'+i))+"@x", ServiceIMAP)
		if got := retryAfter(th.Check(ip, "other@x")); got != w*time.Second {
			t.Fatalf("after failure %d: retry after %v, want %v", i+1, got, w*time.Second)
		}
		*now = now.Add(w * time.Second)
	}
	// Another address is unaffected.
	if err := th.Check(netip.MustParseAddr("192.0.2.8"), "x@x"); err != nil {
		t.Fatal(err)
	}
	// Failures are forgotten a window after the last one.
	*now = now.Add(time.Minute + time.Second)
	th.Failure(ip, "z@x", ServiceIMAP)
	if err := th.Check(ip, "y@x"); err != nil {
		t.Fatalf("penalty outlived the window: %v", err)
	}
}

func TestThrottleAccountAcrossAddresses(t *testing.T) {
	th, _ := testThrottle()
	for i := range 5 {
		th.Failure(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), "juliet@x", ServiceXMPP)
	}
	if err := th.Check(netip.AddrFrom4([4]byte{203, 0, 113, 1}), "juliet@x"); err != nil {
		t.Fatalf("free failures should not delay: %v", err)
	}
	th.Failure(netip.AddrFrom4([4]byte{198, 51, 100, 9}), "juliet@x", ServiceXMPP)
	if got := retryAfter(th.Check(netip.AddrFrom4([4]byte{203, 0, 113, 1}), "juliet@x")); got != time.Second {
		t.Fatalf("account penalty = %v, want 1s from a fresh address", got)
	}
	th.Success("juliet@x")
	if err := th.Check(netip.AddrFrom4([4]byte{203, 0, 113, 1}), "juliet@x"); err != nil {
		t.Fatalf("success did not clear the account: %v", err)
	}
}

func TestThrottleIPv6Prefix(t *testing.T) {
	th, _ := testThrottle()
	for i := range 4 {
		th.Failure(netip.MustParseAddr("2001:db8:1:2::"+string(rune('1'+i))), "a@x", ServiceSMTP)
	}
	if th.Check(netip.MustParseAddr("2001:db8:1:2:ffff::1"), "b@x") == nil {
		t.Error("same /64 not throttled")
	}
	if err := th.Check(netip.MustParseAddr("2001:db8:1:3::1"), "b@x"); err != nil {
		t.Errorf("other /64 throttled: %v", err)
	}
	if th.Check(netip.MustParseAddr("::ffff:192.0.2.1"), "b@x") != nil {
		t.Error("IPv4-mapped address keyed wrongly")
	}
}

func TestThrottleBoundedMemory(t *testing.T) {
	th, _ := testThrottle()
	for i := range 1000 {
		th.Failure(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), "", ServiceSMTP)
	}
	if n := len(th.ips); n > 100 {
		t.Fatalf("%d addresses tracked, bound is 100", n)
	}
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		n    int
		want time.Duration
	}{{-1, 0}, {0, 0}, {1, 2}, {2, 4}, {3, 8}, {10, 60}, {1000, 60}}
	for i, tc := range cases {
		if got := backoff(tc.n, 2*time.Second, time.Minute); got != tc.want*time.Second {
			t.Errorf("%d: backoff(%d) = %v, want %v", i, tc.n, got, tc.want*time.Second)
		}
	}
}
