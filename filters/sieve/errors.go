package sieve

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a compile error with the 1-based position of the offending token.
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	return fmt.Sprintf("line %d:%d: %s", e.Line, e.Col, e.Msg)
}

// ErrorList is several compile errors; Parse returns at most one today, but
// callers should accept either form.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Run failures. The caller falls back to implicit keep on any of them
// (RFC 5228 §2.10.6).
var (
	ErrTooManyActions   = errors.New("sieve: too many actions")
	ErrTooManyRedirects = errors.New("sieve: too many redirects")
	ErrTooManyNotifies  = errors.New("sieve: too many notifications")
	ErrBudget           = errors.New("sieve: execution budget exhausted")
	// ErrConflict: actions that cannot be combined, e.g. reject with
	// fileinto or two vacation actions (RFC 5429 §2.1, RFC 5230 §4.7).
	ErrConflict = errors.New("sieve: conflicting actions")
	// ErrRuntime: a value computed at run time is invalid (an address or
	// mailbox name built from variables, for instance).
	ErrRuntime = errors.New("sieve: runtime error")
)

// Pos is a 1-based position in the script source.
type Pos struct{ Line, Col int }

func errAt(p Pos, format string, args ...any) *Error {
	return &Error{Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)}
}

func runtimeErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRuntime, fmt.Sprintf(format, args...))
}
