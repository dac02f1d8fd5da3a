package streamreader

import (
	"context"
	"time"
)

// Clock is the time source of rate shaping; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// minChunk is the smallest read the shaper waits for when the bucket is
// empty: one read of 512 bytes rather than 512 reads of one byte.
const minChunk = 512

// shaper is a token bucket on bytes read from the connection (RFC 6120
// §13.12: limit the rate of data per connection). It is filled at rate
// bytes per second up to burst; a read may take only what the bucket holds,
// so after time t at most burst + rate·t bytes have been read.
type shaper struct {
	rate, burst int
	tokens      float64
	last        time.Time
	clock       Clock
	ctx         context.Context
}

func newShaper(ctx context.Context, c Clock, rate, burst int) *shaper {
	return &shaper{rate: rate, burst: burst, tokens: float64(burst), last: c.Now(), clock: c, ctx: ctx}
}

// set changes the rate, keeping the bytes already earned up to the new
// burst.
func (s *shaper) set(rate, burst int) {
	s.refill()
	s.rate, s.burst = rate, burst
	s.tokens = min(s.tokens, float64(burst))
}

func (s *shaper) refill() {
	now := s.clock.Now()
	if d := now.Sub(s.last); d > 0 {
		s.tokens = min(float64(s.burst), s.tokens+d.Seconds()*float64(s.rate))
	}
	s.last = now
}

// wait sleeps until a useful read is allowed and returns how many of want
// bytes may be read now (at least 1).
func (s *shaper) wait(want int) (int, error) {
	s.refill()
	need := float64(min(want, s.burst, minChunk))
	if s.tokens < need {
		secs := (need - s.tokens) / float64(s.rate)
		d := time.Duration(secs*float64(time.Second)) + time.Microsecond // round up
		if err := s.clock.Sleep(s.ctx, d); err != nil {
			return 0, err
		}
		s.refill()
	}
	return max(1, min(want, int(s.tokens))), nil
}

// take charges n bytes actually read.
func (s *shaper) take(n int) { s.tokens -= float64(n) }
