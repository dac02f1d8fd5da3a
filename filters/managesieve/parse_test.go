package managesieve

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

var testLimits = limits{line: 64, literal: 100, total: 200, discard: 300}

func TestReadCommand(t *testing.T) {
	cases := []struct {
		in   string
		want string // args joined by "|", atoms bare, strings as s:…, literals as l:…
		err  string // prefix of the cmdError text, or "fatal"
	}{
		0:  {in: "NOOP\r\n", want: "NOOP"},
		1:  {in: "noop \"x\"\r\n", want: "noop|s:x"},
		2:  {in: "NOOP\n", want: "NOOP"},
		3:  {in: "PUTSCRIPT \"a b\" {5+}\r\nkeep;\r\n", want: "PUTSCRIPT|s:a b|l:keep;"},
		4:  {in: "PUTSCRIPT {1+}\r\na {2}\r\nbc\r\n", want: "PUTSCRIPT|l:a|l:bc"},
		5:  {in: "X \"a\\\"b\\\\c\"\r\n", want: `X|s:a"b\c`},
		6:  {in: "X  \"a\"   b\r\n", want: "X|s:a|b"},
		7:  {in: "X {0+}\r\n\r\n", want: "X|l:"},
		8:  {in: "\r\n", want: ""},
		9:  {in: "X \"\r\n", err: "Unterminated"},
		10: {in: "X \"a\\b\"\r\n", err: "Only"},
		11: {in: "X {3}x\r\n", err: "Malformed literal"},
		12: {in: "X {}\r\n", err: "Malformed literal"},
		13: {in: "X {12345678901+}\r\n", err: "Malformed literal"},
		14: {in: "X {101+}\r\n" + strings.Repeat("a", 101) + "\r\n", err: "Literal too large"},
		15: {in: "X {301+}\r\n" + strings.Repeat("a", 301) + "\r\n", err: "fatal"},
		16: {in: "X " + strings.Repeat("a", 70) + "\r\n", err: "Line too long"},
		17: {in: "X " + strings.Repeat("a", 400) + "\r\n", err: "fatal"},
		18: {in: "X {60+}\r\n" + strings.Repeat("a", 60) + " {60+}\r\n" + strings.Repeat("b", 60) +
			" {60+}\r\n" + strings.Repeat("c", 60) + "\r\n", err: "Literal too large"},
		19: {in: "X a b c d e f g h i\r\n", err: "Too many arguments"},
		20: {in: "X \"é\"\r\n", want: "X|s:é"},
		21: {in: "X \"\xff\"\r\n", err: "Quoted string is not UTF-8"},
		22: {in: "X )\r\n", err: "Unexpected character"},
		23: {in: "X {3+}\r\nabc", err: "fatal"}, // EOF before the command ends
		24: {in: "X {5+}\r\nab", err: "fatal"},
	}
	for i, tc := range cases {
		args, err := readCommand(bufio.NewReader(strings.NewReader(tc.in)), testLimits)
		var ce *cmdError
		switch {
		case tc.err == "fatal":
			if err == nil || errors.As(err, &ce) {
				t.Errorf("case %d: got %v %v, want a fatal error", i, args, err)
			}
		case tc.err != "":
			if !errors.As(err, &ce) || !strings.HasPrefix(ce.text, tc.err) {
				t.Errorf("case %d: got %v %v, want %q", i, args, err, tc.err)
			}
		case err != nil:
			t.Errorf("case %d: %v", i, err)
		case show(args) != tc.want:
			t.Errorf("case %d: got %q, want %q", i, show(args), tc.want)
		}
	}
}

// After a refused command the reader is at the start of the next one.
func TestReadCommandResynchronises(t *testing.T) {
	in := "X {101+}\r\n" + strings.Repeat("a", 101) + " \"more\" {2+}\r\nzz\r\n" +
		"X \"unterminated {4+}\r\nNOOP\r\n" +
		"X " + strings.Repeat("y", 100) + " {6+}\r\nLOGOUT\r\n" +
		"NEXT\r\n"
	br := bufio.NewReader(strings.NewReader(in))
	for i := 0; i < 3; i++ {
		var ce *cmdError
		if _, err := readCommand(br, testLimits); !errors.As(err, &ce) {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	args, err := readCommand(br, testLimits)
	if err != nil || show(args) != "NEXT" {
		t.Errorf("after the refused commands: %q %v", show(args), err)
	}
}

func show(args []arg) string {
	parts := make([]string, len(args))
	for i, a := range args {
		switch {
		case a.literal:
			parts[i] = "l:" + a.val
		case a.kind == stringArg:
			parts[i] = "s:" + a.val
		default:
			parts[i] = a.val
		}
	}
	return strings.Join(parts, "|")
}

func TestAppendString(t *testing.T) {
	cases := map[string]string{
		"":                        `""`,
		"plain":                   `"plain"`,
		`a"b\c`:                   `"a\"b\\c"`,
		"two\r\nlines":            "{10}\r\ntwo\r\nlines",
		"\xff":                    "{1}\r\n\xff",
		strings.Repeat("a", 1025): "{1025}\r\n" + strings.Repeat("a", 1025),
	}
	for in, want := range cases {
		if got := string(appendString(nil, in)); got != want {
			t.Errorf("%q: got %q, want %q", trunc(in, 20), trunc(got, 30), trunc(want, 30))
		}
		// What we write, we read back.
		args, err := readCommand(bufio.NewReader(strings.NewReader("X "+want+"\r\n")),
			limits{line: 2000, literal: 2000, total: 4000, discard: 0})
		if err != nil || len(args) != 2 || args[1].val != in {
			t.Errorf("%q: read back %v %v", trunc(in, 20), args, err)
		}
	}
}

// FuzzParse feeds arbitrary bytes to the command reader: it must not
// panic, must keep within its limits, and must either make progress or
// stop.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"AUTHENTICATE \"PLAIN\" \"AGp1bGlldEBjYXB1bGV0LmV4YW1wbGUAc2VjcmV0\"\r\n",
		"PUTSCRIPT \"vacation\" {38+}\r\nrequire \"vacation\";\r\nvacation \"x\";\r\n\r\n",
		"PUTSCRIPT \"main\" {6}\r\nkeep;\n\r\n",
		"LISTSCRIPTS\r\nGETSCRIPT \"a\\\"b\"\r\nNOOP {3+}\r\ntag\r\n",
		"HAVESPACE \"x\" 4294967295\r\nRENAMESCRIPT \"a\" \"b\"\r\n",
		"X \"unterminated {4+}\r\nNOOP\r\n",
		"X {999999999999+}\r\n",
		"X (\x00\xff) {0}\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &countingReader{r: bytes.NewReader(data)}
		br := bufio.NewReaderSize(r, 16)
		for range 10000 {
			before := r.n - br.Buffered()
			args, err := readCommand(br, testLimits)
			var ce *cmdError
			switch {
			case err == nil:
				if len(args) > maxArgs {
					t.Fatalf("%d args", len(args))
				}
				kept := 0
				for _, a := range args {
					kept += len(a.val)
				}
				if kept > testLimits.total {
					t.Fatalf("kept %d bytes", kept)
				}
			case errors.As(err, &ce):
				if ce.text == "" {
					t.Fatal("cmdError without text")
				}
			default:
				return // fatal: the connection would close
			}
			after := r.n - br.Buffered()
			if after == before {
				t.Fatalf("no progress at %d", before)
			}
			if after-before > testLimits.total+testLimits.discard+testLimits.line+64 {
				t.Fatalf("one command read %d bytes", after-before)
			}
		}
	})
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
