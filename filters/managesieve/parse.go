package managesieve

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// argKind tells how an argument was written (RFC 5804 §4).
type argKind uint8

const (
	atomArg   argKind = iota // a bare word: command names, numbers
	stringArg                // a quoted string or a literal
)

// arg is one word of a command.
type arg struct {
	kind    argKind
	val     string
	literal bool // sent as {N+} or {N}
}

// limits bound what readCommand keeps and what it reads to stay in step
// with the client after refusing part of a command.
type limits struct {
	line    int // bytes of one line, CRLF and literal contents not counted
	literal int // octets of one literal
	total   int // bytes kept for the whole command
	discard int // bytes read and dropped before the connection is given up
}

// cmdError is a command the client got wrong. It has been read to its end,
// so the connection goes on after the NO.
type cmdError struct {
	code string // response code (RFC 5804 §1.3), "" for none
	text string
}

func (e *cmdError) Error() string { return e.text }

func syntaxError(text string) *cmdError { return &cmdError{text: text} }

// errTooLarge means a command could not be read to its end within the
// discard budget: the connection cannot be kept in step and is closed.
var errTooLarge = errors.New("managesieve: command too large")

// cmdReader reads one command.
type cmdReader struct {
	br      *bufio.Reader
	lim     limits
	args    []arg
	kept    int
	dropped int
	fail    *cmdError // the first problem; from then on the rest is read and dropped
}

// readCommand reads one command: its words up to the CRLF that ends it,
// with the contents of its literals (RFC 5804 §4). A client literal is
// written {N+} (literal-c2s); {N} is accepted as well and read the same
// way: ManageSieve has no continuation request for literals, so no client
// can be waiting for one. Errors are a *cmdError (the command was read to
// its end and refused), errTooLarge, or the connection's read error.
func readCommand(br *bufio.Reader, lim limits) ([]arg, error) {
	r := &cmdReader{br: br, lim: lim}
	for {
		line, err := r.readLine()
		if err != nil {
			return nil, err
		}
		n, more := r.parseLine(line)
		if !more {
			break
		}
		if err := r.readLiteral(n); err != nil {
			return nil, err
		}
	}
	if r.fail != nil {
		return nil, r.fail
	}
	return r.args, nil
}

// failWith records the first problem of the command.
func (r *cmdReader) failWith(e *cmdError) {
	if r.fail == nil {
		r.fail = e
	}
}

// readLine returns the next line without its CRLF (a bare LF is taken as
// well). A line over the limit is dropped, all but its last bytes, which
// may announce a literal.
func (r *cmdReader) readLine() ([]byte, error) {
	var line []byte
	long := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		if !long && len(line)+len(chunk) > r.lim.line+2 {
			long = true
			r.failWith(syntaxError("Line too long"))
		}
		line = append(line, chunk...)
		if long && len(line) > 32 { // keep the tail: enough for {4294967295+}
			line = append(line[:0], line[len(line)-32:]...)
		}
		if r.fail != nil {
			// Refused already: what follows is read only to find the end.
			r.dropped += len(chunk)
			if r.dropped > r.lim.discard {
				return nil, errTooLarge
			}
		} else {
			r.kept += len(chunk)
		}
		if err == nil {
			break
		}
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if r.kept > r.lim.total {
		r.failWith(&cmdError{code: "QUOTA/MAXSIZE", text: "Command too large"})
	}
	return line, nil
}

// parseLine adds the words of line to the command. If the line ends with a
// literal announcement it returns the literal's size and more.
func (r *cmdReader) parseLine(line []byte) (n int64, more bool) {
	if r.fail != nil {
		return trailingLiteral(line)
	}
	for i := 0; i < len(line); {
		if line[i] == ' ' { // one SP between words; more are tolerated
			i++
			continue
		}
		switch c := line[i]; {
		case c == '"':
			s, used, err := parseQuoted(line[i:])
			if err != nil {
				r.failWith(err)
				return trailingLiteral(line)
			}
			r.add(arg{kind: stringArg, val: s})
			i += used
		case c == '{':
			n, ok := literalHeader(line[i:])
			if !ok {
				r.failWith(syntaxError("Malformed literal: expected {N+} at the end of the line"))
				return trailingLiteral(line)
			}
			return n, true
		default:
			j := i
			for j < len(line) && isAtomChar(line[j]) {
				j++
			}
			if j == i {
				r.failWith(syntaxError("Unexpected character " + strconv.QuoteRune(rune(c))))
				return trailingLiteral(line)
			}
			r.add(arg{kind: atomArg, val: string(line[i:j])})
			i = j
		}
		if i < len(line) && line[i] != ' ' {
			r.failWith(syntaxError("Missing space between arguments"))
			return trailingLiteral(line)
		}
	}
	return 0, false
}

func (r *cmdReader) add(a arg) {
	if len(r.args) >= maxArgs {
		r.failWith(syntaxError("Too many arguments"))
		return
	}
	r.args = append(r.args, a)
}

// readLiteral reads the n octets of a literal, or drops them if the
// command is already refused or the literal is over the limit.
func (r *cmdReader) readLiteral(n int64) error {
	if r.fail == nil && n <= int64(r.lim.literal) && int64(r.kept)+n <= int64(r.lim.total) {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.br, buf); err != nil {
			return err
		}
		r.kept += int(n)
		r.add(arg{kind: stringArg, val: string(buf), literal: true})
		return nil
	}
	r.failWith(&cmdError{code: "QUOTA/MAXSIZE", text: "Literal too large"})
	if int64(r.dropped)+n > int64(r.lim.discard) {
		return errTooLarge
	}
	// RFC 5804 §4: {N+} is non-synchronising, so the octets are on their way
	// whatever the answer; reading them keeps the next command in step.
	r.dropped += int(n)
	if _, err := io.CopyN(io.Discard, r.br, n); err != nil {
		return err
	}
	return nil
}

// parseQuoted parses a quoted string at the start of b (RFC 5804 §4:
// QUOTED-CHAR is SAFE-UTF8-CHAR or an escaped '"' or '\'; at most 1024
// octets between the quotes). It returns the value and the bytes used.
func parseQuoted(b []byte) (string, int, *cmdError) {
	out := make([]byte, 0, 32)
	for i := 1; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			if i-1 > maxQuoted {
				return "", 0, syntaxError("Quoted string longer than 1024 octets; use a literal")
			}
			if !utf8.Valid(out) {
				return "", 0, syntaxError("Quoted string is not UTF-8")
			}
			return string(out), i + 1, nil
		case '\\':
			i++
			if i >= len(b) || b[i] != '"' && b[i] != '\\' {
				return "", 0, syntaxError(`Only \" and \\ may be escaped in a quoted string`)
			}
			out = append(out, b[i])
		case 0, '\r', '\n':
			return "", 0, syntaxError("NUL, CR or LF in a quoted string; use a literal")
		default:
			out = append(out, c)
		}
	}
	return "", 0, syntaxError("Unterminated quoted string")
}

// literalHeader parses "{N+}" or "{N}" making up all of b.
func literalHeader(b []byte) (int64, bool) {
	if len(b) < 3 || b[0] != '{' || b[len(b)-1] != '}' {
		return 0, false
	}
	digits := bytes.TrimSuffix(b[1:len(b)-1], []byte("+"))
	if len(digits) == 0 || len(digits) > 10 {
		return 0, false
	}
	var n int64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// trailingLiteral reports whether a line the parser gave up on ends with a
// literal announcement, which the client will follow with its octets.
func trailingLiteral(line []byte) (int64, bool) {
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	return literalHeader(line[i:])
}

// isAtomChar reports ATOM-CHAR of RFC 5804 §4: printable ASCII except
// '"', '(', ')', '\' and '{'.
func isAtomChar(c byte) bool {
	return c > ' ' && c < 0x7f && c != '"' && c != '(' && c != ')' && c != '\\' && c != '{'
}
