package sieve

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"strings"
	"sync"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// maxPartBytes bounds what the body test reads from one MIME part.
const maxPartBytes = 4 << 20

// NewMessage reads the header of the message in r once; the body is
// parsed on the first Body call. Broken MIME never fails: the header keeps
// what parsed, and the body test falls back to the raw body.
func NewMessage(r io.ReaderAt, size int64) (Message, error) {
	m := &msg{r: r, size: size}
	cr := &countReader{r: io.NewSectionReader(r, 0, size)}
	br := bufio.NewReader(cr)
	h, err := textproto.ReadHeader(br)
	m.hdr = h
	m.bodyOff = cr.n - int64(br.Buffered())
	if err != nil {
		m.bodyOff = rawBodyOffset(r, size)
	}
	return m, nil
}

type msg struct {
	r       io.ReaderAt
	size    int64
	hdr     textproto.Header
	bodyOff int64

	mu      sync.Mutex
	decoded map[string][]string // Header results by lowercased name
	parsed  bool
	leaves  []leaf // nil with parsed: MIME did not parse
}

type leaf struct {
	ctype string // lowercased media type
	text  string
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// rawBodyOffset finds the blank line that ends the header.
func rawBodyOffset(r io.ReaderAt, size int64) int64 {
	buf := make([]byte, min(size, 1<<20))
	n, _ := r.ReadAt(buf, 0)
	buf = buf[:n]
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(buf, []byte(sep)); i >= 0 {
			return int64(i + len(sep))
		}
	}
	return size
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// Header returns the unfolded, RFC 2047-decoded values of a field.
// The result is cached and shared: callers must not modify it.
func (m *msg) Header(name string) []string {
	key := strings.ToLower(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.decoded[key]; ok {
		return v
	}
	if m.decoded == nil {
		m.decoded = map[string][]string{}
	}
	v := m.decodeHeader(name)
	m.decoded[key] = v
	return v
}

// RawHeader returns the unfolded values of a field as they are in the
// message.
func (m *msg) RawHeader(name string) []string { return m.hdr.Values(name) }

func (m *msg) decodeHeader(name string) []string {
	vals := m.hdr.Values(name)
	out := make([]string, len(vals))
	for i, v := range vals {
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			v = d
		}
		out[i] = v
	}
	return out
}

func (m *msg) Size() int64 { return m.size }

func (m *msg) rawBody() string {
	n := m.size - m.bodyOff
	if n <= 0 {
		return ""
	}
	buf := make([]byte, min(n, maxPartBytes))
	k, _ := m.r.ReadAt(buf, m.bodyOff)
	return string(buf[:k])
}

// Body returns the texts for the body test (RFC 5173 §5).
func (m *msg) Body(ctx context.Context, transform string, contentTypes []string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if transform == "raw" {
		return []string{m.rawBody()}, nil
	}
	leaves := m.parse()
	if leaves == nil {
		return []string{m.rawBody()}, nil
	}
	var out []string
	for _, l := range leaves {
		if transform == "text" && strings.HasPrefix(l.ctype, "text/") {
			out = append(out, textOf(l))
		} else if transform == "content" && matchContentType(l.ctype, contentTypes) {
			out = append(out, l.text)
		}
	}
	return out, nil
}

func (m *msg) parse() []leaf {
	m.mu.Lock()
	defer m.mu.Unlock() // Body parses under the lock; headers wait meanwhile
	if m.parsed {
		return m.leaves
	}
	m.parsed = true
	e, err := message.Read(io.NewSectionReader(m.r, 0, m.size))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil
	}
	var leaves []leaf
	walkErr := e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		if part.MultipartReader() != nil {
			return nil
		}
		ct, _, _ := part.Header.ContentType()
		if ct == "" {
			ct = "text/plain" // RFC 2045 §5.2
		}
		b, _ := io.ReadAll(io.LimitReader(part.Body, maxPartBytes))
		leaves = append(leaves, leaf{ctype: strings.ToLower(ct), text: string(b)})
		return nil
	})
	if walkErr != nil {
		return nil
	}
	m.leaves = leaves
	if m.leaves == nil {
		m.leaves = []leaf{}
	}
	return m.leaves
}

// matchContentType: "" matches every part, "type" every subtype of it,
// "type/subtype" that type (RFC 5173 §5.2).
func matchContentType(ct string, want []string) bool {
	for _, w := range want {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" || w == ct || (!strings.Contains(w, "/") && strings.HasPrefix(ct, w+"/")) {
			return true
		}
	}
	return false
}

// textOf gives the text of a part; HTML loses its tags (RFC 5173 §5.3
// leaves the extraction to the implementation).
func textOf(l leaf) string {
	if l.ctype != "text/html" {
		return l.text
	}
	var b strings.Builder
	in := false
	for _, r := range l.text {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
