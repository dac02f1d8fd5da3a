package sieve

import (
	"slices"
	"time"
)

// Defaults for Options fields left zero.
const (
	defaultMaxScriptSize = 64 << 10
	defaultMaxNesting    = 32
	defaultMaxActions    = 32
	defaultMaxRedirects  = 4
	defaultMaxNotifies   = 4
	defaultMaxSteps      = 100000
	defaultTimeout       = 200 * time.Millisecond
)

// Options bounds what a script may do. Zero fields take the defaults of
// DefaultOptions.
type Options struct {
	MaxScriptSize int // bytes; default 64 KiB
	MaxNesting    int // block+test nesting; default 32
	// MaxActions counts the delivering actions of a run: fileinto, keep,
	// redirect, notify, vacation, reject/ereject. Default 32.
	MaxActions   int
	MaxRedirects int // default 4
	MaxNotifies  int // notify actions per run; default 4
	// MaxSteps is the interpreter budget: one step per command and test
	// evaluated, per value compared, and per 64 bytes a matcher scans.
	// Default 100000.
	MaxSteps   int
	Timeout    time.Duration // wall-clock budget per run; default 200ms
	Extensions []string      // enabled capability names; nil = all supported
}

// DefaultOptions returns the default limits with every extension enabled.
func DefaultOptions() Options {
	return Options{
		MaxScriptSize: defaultMaxScriptSize,
		MaxNesting:    defaultMaxNesting,
		MaxActions:    defaultMaxActions,
		MaxRedirects:  defaultMaxRedirects,
		MaxNotifies:   defaultMaxNotifies,
		MaxSteps:      defaultMaxSteps,
		Timeout:       defaultTimeout,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	setDefault(&o.MaxScriptSize, d.MaxScriptSize)
	setDefault(&o.MaxNesting, d.MaxNesting)
	setDefault(&o.MaxActions, d.MaxActions)
	setDefault(&o.MaxRedirects, d.MaxRedirects)
	setDefault(&o.MaxNotifies, d.MaxNotifies)
	setDefault(&o.MaxSteps, d.MaxSteps)
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	return o
}

func setDefault(v *int, d int) {
	if *v <= 0 {
		*v = d
	}
}

// supported lists every capability this package implements.
var supported = []string{
	"body",
	"comparator-i;ascii-numeric",
	"copy",
	"encoded-character",
	"enotify",
	"envelope",
	"ereject",
	"extlists",
	"fileinto",
	"imap4flags",
	"mailbox",
	"reject",
	"relational",
	"subaddress",
	"vacation",
	"vacation-seconds",
	"variables",
}

// builtinComparators are always available (RFC 5228 §2.7.3).
var builtinComparators = []string{"comparator-i;octet", "comparator-i;ascii-casemap"}

// Supported returns the capability names we implement, sorted, for the
// ManageSieve "SIEVE" capability.
func Supported() []string {
	return slices.Clone(supported)
}

func (o Options) enabled(capability string) bool {
	if slices.Contains(builtinComparators, capability) {
		return true
	}
	if !slices.Contains(supported, capability) {
		return false
	}
	return o.Extensions == nil || slices.Contains(o.Extensions, capability)
}
