package streamreader

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRateShaping reads N bytes at B bytes/s with a burst and checks that the
// Reader slept about (N - burst)/B: never less (no more than burst + B·t
// bytes by time t), and at most one read chunk more.
func TestRateShaping(t *testing.T) {
	stanza := "<message><body>" + repeat("r", 970) + "</body></message>" // 1000 bytes
	cases := []struct {
		name        string
		rate, burst int
		stanzas     int
		slop        time.Duration // one read chunk: the last wait before EOF
	}{
		{"within the burst", 1000, 100000, 50, 0},
		{"ten times the burst", 1000, 2000, 20, minChunk * time.Second / 1000},
		{"c2s default", C2SBytesPerSecond, C2SBurst, 200, minChunk * time.Second / C2SBytesPerSecond},
		{"burst of one byte", 1000, 1, 5, time.Second / 1000},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := repeat(stanza, c.stanzas)
			in := restartHeader + body
			l := DefaultPostAuth()
			l.BytesPerSecond, l.Burst = c.rate, c.burst
			clock := &fakeClock{now: time.Unix(1e9, 0)}
			r := New(strings.NewReader(in), l, WithClock(clock))
			_, err := readAll(r)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("case %d: %v", i, err)
			}
			wantMin := time.Duration(float64(len(in)-c.burst) / float64(c.rate) * float64(time.Second))
			wantMin = max(0, wantMin)
			if clock.slept < wantMin-time.Millisecond || clock.slept > wantMin+c.slop+10*time.Millisecond {
				t.Fatalf("case %d: slept %v for %d bytes at %d B/s, burst %d; want %v to %v",
					i, clock.slept, len(in), c.rate, c.burst, wantMin, wantMin+c.slop)
			}
			t.Logf("%d bytes: slept %v in %d naps", len(in), clock.slept, clock.naps)
		})
	}
}

func TestRateShapingSwitch(t *testing.T) {
	in := restartHeader + repeat("<presence/>", 10000) // 110 KB
	l := unshaped(DefaultPostAuth())
	clock := &fakeClock{}
	r := New(strings.NewReader(in), l, WithClock(clock))
	if _, err := readAll(r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	if clock.slept != 0 {
		t.Fatalf("unshaped reader slept %v", clock.slept)
	}
	l.BytesPerSecond, l.Burst = 10000, 10000
	r.SetLimits(l)
	r.Reset(strings.NewReader(in))
	if _, err := readAll(r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	if clock.slept < 9*time.Second {
		t.Fatalf("shaped reader slept only %v for %d bytes at 10 kB/s", clock.slept, len(in))
	}
}

// TestShapingStopsWithContext: a closing connection is not stuck in a
// shaping sleep.
func TestShapingStopsWithContext(t *testing.T) {
	l := DefaultPostAuth()
	l.BytesPerSecond, l.Burst = 1, 1
	ctx, cancel := context.WithCancel(context.Background())
	r := New(strings.NewReader(restartHeader), l, WithContext(ctx))
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := readAll(r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v to notice the cancellation", d)
	}
}
