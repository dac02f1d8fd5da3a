package streamreader

import (
	"errors"
	"io"
)

// bufSize is the read-ahead from the connection; it bounds the bytes the
// Reader holds beyond what the decoder has consumed.
const bufSize = 4096

// errLimit is what the decoder gets when it asks for a byte past the limit.
var errLimit = errors.New("streamreader: byte limit reached")

// source is the gate between the connection and the XML decoder (RFC 6120
// §13.12: count bytes before parsing). The decoder reads it one byte at a
// time (io.ByteReader, so encoding/xml adds no bufio), and it reads from the
// connection only as many bytes as the limit still allows: the decoder can
// never hold more of a stanza than the limit.
type source struct {
	r          io.Reader
	buf        []byte // buf[rpos:wpos] is read from r but not yet handed out
	rpos, wpos int
	off        int64   // bytes handed out since reset
	limit      int64   // bytes at offset limit and beyond are refused
	carry      [2]byte // the two bytes before buf[0], for last2
	rerr       error   // error from r (or the shaper), held until buf drains
	err        error   // the error handed to the decoder, if any
	shape      *shaper // nil: no shaping
}

func (s *source) reset(r io.Reader) {
	clear(s.buf) // RFC 6120 §5.4.3.3: nothing from before the restart survives
	*s = source{r: r, buf: s.buf, shape: s.shape}
	if s.buf == nil {
		s.buf = make([]byte, bufSize)
	}
}

// ReadByte hands the decoder the next byte, refusing bytes past the limit.
func (s *source) ReadByte() (byte, error) {
	if s.rpos == s.wpos || s.off >= s.limit {
		if err := s.more(); err != nil {
			s.err = err
			return 0, err
		}
	}
	b := s.buf[s.rpos]
	s.rpos++
	s.off++
	return b, nil
}

// Read exists because encoding/xml asserts io.Reader before calling
// CharsetReader; it returns one byte at a time.
func (s *source) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := s.ReadByte()
	if err != nil {
		return 0, err
	}
	p[0] = b
	return 1, nil
}

func (s *source) more() error {
	if s.off >= s.limit {
		return errLimit
	}
	if s.rpos < s.wpos {
		return nil
	}
	return s.fill()
}

// buffered returns the bytes read but not handed out yet.
func (s *source) buffered() []byte { return s.buf[s.rpos:s.wpos] }

// skip hands out n buffered bytes without the decoder.
func (s *source) skip(n int) {
	s.rpos += n
	s.off += int64(n)
}

// peek makes at least n bytes available if the connection and the limit
// allow, and returns what is buffered. A short result carries the reason.
func (s *source) peek(n int) ([]byte, error) {
	for s.wpos-s.rpos < n {
		if err := s.fill(); err != nil {
			return s.buffered(), err
		}
	}
	return s.buffered(), nil
}

// fill reads once more from the connection into the free end of buf, never
// past the limit, after waiting for the rate shaper.
func (s *source) fill() error {
	if s.rerr != nil {
		return s.rerr
	}
	s.compact()
	room := min(int64(len(s.buf)-s.wpos), s.limit-s.off-int64(s.wpos-s.rpos))
	if room <= 0 {
		return errLimit
	}
	want := int(room)
	if s.shape != nil {
		var err error
		if want, err = s.shape.wait(want); err != nil {
			s.rerr = err
			return err
		}
	}
	return s.read(want)
}

// read calls r.Read until it returns data or an error (io.Reader allows
// 0, nil); an error that arrives with data is kept for the next fill.
func (s *source) read(want int) error {
	for range 100 {
		n, err := s.r.Read(s.buf[s.wpos : s.wpos+want])
		s.wpos += n
		if s.shape != nil {
			s.shape.take(n)
		}
		if err != nil {
			s.rerr = err
		}
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	s.rerr = io.ErrNoProgress
	return s.rerr
}

// compact moves the unread bytes to the front of buf.
func (s *source) compact() {
	if s.rpos == 0 {
		return
	}
	s.carry = s.last2()
	n := copy(s.buf, s.buf[s.rpos:s.wpos])
	s.rpos, s.wpos = 0, n
}

// last2 returns the last two bytes handed out (zero bytes before that).
func (s *source) last2() [2]byte {
	switch s.rpos {
	case 0:
		return s.carry
	case 1:
		return [2]byte{s.carry[1], s.buf[0]}
	}
	return [2]byte{s.buf[s.rpos-2], s.buf[s.rpos-1]}
}
