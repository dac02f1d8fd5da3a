package sieve

import (
	"strings"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tTag
	tNumber
	tString
	tLBracket
	tRBracket
	tLParen
	tRParen
	tLBrace
	tRBrace
	tComma
	tSemicolon
)

var tokNames = [...]string{
	tEOF: "end of script", tIdent: "identifier", tTag: "tag", tNumber: "number",
	tString: "string", tLBracket: `"["`, tRBracket: `"]"`, tLParen: `"("`,
	tRParen: `")"`, tLBrace: `"{"`, tRBrace: `"}"`, tComma: `","`, tSemicolon: `";"`,
}

type token struct {
	kind tokKind
	pos  Pos
	text string // identifier/tag (lowercased, tag without ':'), string value
	num  int64
}

func (t token) describe() string {
	switch t.kind {
	case tIdent:
		return "identifier " + quote(t.text)
	case tTag:
		return "tag :" + t.text
	case tString:
		return "string"
	case tNumber:
		return "number"
	}
	return tokNames[t.kind]
}

// lexer turns the script into tokens (RFC 5228 §8.1).
type lexer struct {
	src  string
	off  int
	line int
	col  int
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

func (l *lexer) peekByte(ahead int) byte {
	if l.off+ahead < len(l.src) {
		return l.src[l.off+ahead]
	}
	return 0
}

// advance moves n bytes, tracking line and column (columns count runes).
func (l *lexer) advance(n int) {
	for i := 0; i < n && l.off < len(l.src); {
		r, size := utf8.DecodeRuneInString(l.src[l.off:])
		if r == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.off += size
		i += size
	}
}

// skipSpace skips white space and comments (RFC 5228 §2.3).
func (l *lexer) skipSpace() error {
	for l.off < len(l.src) {
		switch c := l.src[l.off]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '#':
			l.skipLine()
		case c == '/' && l.peekByte(1) == '*':
			start := l.pos()
			end := strings.Index(l.src[l.off+2:], "*/")
			if end < 0 {
				return errAt(start, "unterminated comment")
			}
			l.advance(end + 4)
		default:
			return nil
		}
	}
	return nil
}

func (l *lexer) skipLine() {
	i := strings.IndexByte(l.src[l.off:], '\n')
	if i < 0 {
		l.advance(len(l.src) - l.off)
		return
	}
	l.advance(i + 1)
}

func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.off]
	if k, ok := punct(c); ok {
		l.advance(1)
		return token{kind: k, pos: p}, nil
	}
	switch {
	case c == '"':
		return l.quoted(p)
	case c == ':':
		l.advance(1)
		if !isIdentStart(l.peekByte(0)) {
			return token{}, errAt(p, "expected a tag name after \":\"")
		}
		return token{kind: tTag, pos: p, text: l.ident()}, nil
	case isDigit(c):
		return l.number(p)
	case isIdentStart(c):
		id := l.ident()
		if id == "text" && l.peekByte(0) == ':' {
			l.advance(1)
			return l.multiline(p)
		}
		return token{kind: tIdent, pos: p, text: id}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	return token{}, errAt(p, "unexpected character %q", r)
}

func punct(c byte) (tokKind, bool) {
	switch c {
	case '[':
		return tLBracket, true
	case ']':
		return tRBracket, true
	case '(':
		return tLParen, true
	case ')':
		return tRParen, true
	case '{':
		return tLBrace, true
	case '}':
		return tRBrace, true
	case ',':
		return tComma, true
	case ';':
		return tSemicolon, true
	}
	return 0, false
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) ident() string {
	start := l.off
	for l.off < len(l.src) && (isIdentStart(l.src[l.off]) || isDigit(l.src[l.off])) {
		l.advance(1)
	}
	// RFC 5228 §8.1: identifiers are case-insensitive.
	return strings.ToLower(l.src[start:l.off])
}

// number reads 1*DIGIT [QUANTIFIER] (RFC 5228 §2.4.1).
func (l *lexer) number(p Pos) (token, error) {
	var n int64
	const max = int64(1) << 62
	for l.off < len(l.src) && isDigit(l.src[l.off]) {
		n = n*10 + int64(l.src[l.off]-'0')
		if n > max {
			return token{}, errAt(p, "number too large")
		}
		l.advance(1)
	}
	mult := int64(1)
	switch l.peekByte(0) {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	if mult > 1 {
		l.advance(1)
		if n > max/mult {
			return token{}, errAt(p, "number too large")
		}
		n *= mult
	}
	if isIdentStart(l.peekByte(0)) || isDigit(l.peekByte(0)) {
		return token{}, errAt(p, "invalid number")
	}
	return token{kind: tNumber, pos: p, num: n}, nil
}

// quoted reads a quoted string; "\" escapes the next character, and an
// undefined escape stands for the character itself (RFC 5228 §2.4.2).
func (l *lexer) quoted(p Pos) (token, error) {
	l.advance(1)
	var b strings.Builder
	for {
		i := strings.IndexAny(l.src[l.off:], "\"\\")
		if i < 0 {
			return token{}, errAt(p, "unterminated string")
		}
		b.WriteString(l.src[l.off : l.off+i])
		l.advance(i)
		if l.src[l.off] == '"' {
			l.advance(1)
			return token{kind: tString, pos: p, text: b.String()}, nil
		}
		if l.off+1 >= len(l.src) {
			return token{}, errAt(p, "unterminated string")
		}
		l.advance(1)
		_, n := utf8.DecodeRuneInString(l.src[l.off:])
		b.WriteString(l.src[l.off : l.off+n])
		l.advance(n)
	}
}

// multiline reads "text:" up to a line holding a single "."; a leading ".."
// on a line stands for "." (RFC 5228 §2.4.2).
func (l *lexer) multiline(p Pos) (token, error) {
	for l.off < len(l.src) && (l.src[l.off] == ' ' || l.src[l.off] == '\t') {
		l.advance(1)
	}
	switch {
	case l.peekByte(0) == '#':
		l.skipLine()
	case l.peekByte(0) == '\r' && l.peekByte(1) == '\n':
		l.advance(2)
	case l.peekByte(0) == '\n':
		l.advance(1)
	default:
		return token{}, errAt(l.pos(), "expected end of line after \"text:\"")
	}
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return token{}, errAt(p, "unterminated multi-line string")
		}
		line := l.src[l.off:]
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		l.advance(len(line))
		body := strings.TrimRight(line, "\r\n")
		if body == "." {
			return token{kind: tString, pos: p, text: b.String()}, nil
		}
		if strings.HasPrefix(line, "..") {
			line = line[1:]
		}
		b.WriteString(line)
	}
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}
