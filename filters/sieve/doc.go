// Package sieve is our own Sieve engine (RFC 5228): a parser that
// validates scripts completely at upload time and an interpreter with a
// step budget, a wall-clock timeout and caps on actions. It is pure Go and
// touches neither a database nor the network; lists, mailboxes and notify
// capabilities come through hooks in Env.
//
// Why not migadu/go-sieve or foxcpp/go-sieve: both keep their command and
// test tables unexported (extending them means forking), neither has
// enotify, extlists, a CPU budget or action caps, and both accept some
// scripts the RFCs call invalid.
//
// Extensions (all need require): fileinto, envelope, encoded-character,
// comparator-i;ascii-numeric, mailbox (RFC 5490), imap4flags (RFC 5232),
// body (RFC 5173), variables (RFC 5229), copy (RFC 3894), relational
// (RFC 5231), subaddress (RFC 5233), reject and ereject (RFC 5429),
// vacation (RFC 5230) with vacation-seconds (RFC 6131), enotify (RFC 5435)
// with the mailto (RFC 5436) and xmpp (RFC 5437) methods, and extlists
// (RFC 6134). Not implemented: regex, date, index, editheader, include,
// ihave, spamtest, and redirect :list.
//
// Limits (Options, all overridable): script size 64 KiB, nesting 32,
// 32 delivering actions, 4 redirects, 4 notifications, 100000 interpreter
// steps and 200ms per run. Expanded strings are cut at 16 KiB and all
// variables of a run together hold at most 1 MiB. :matches runs without
// backtracking (see wildcard.go), so no key can make it exponential.
//
// Implementation notes, where the RFCs leave a choice:
//   - "?" matches one UTF-8 character whatever the comparator; each "*"
//     matches as little as possible from the left (RFC 5229 §3.2 examples).
//   - reject and ereject fail the run (ErrConflict) when combined with keep,
//     fileinto, redirect (also with :copy), vacation or another reject; two
//     vacations fail it too (RFC 5230 §4.7). The caller then keeps.
//   - fileinto/keep into one mailbox twice stores one copy with the union of
//     the flags; redirects to one address are merged and MaxRedirects counts
//     distinct addresses (RFC 5228 §2.10.3, §4.2).
//   - notify: identical notifications (method, :from, :importance,
//     :options, :message) are sent once; a method built from variables that
//     is invalid or unsupported is skipped silently, a constant one is a
//     compile error. notify_method_capability knows "online" only and says
//     "maybe" when Env has no hook.
//   - extlists: a list name starting with ":" is short for
//     "urn:ietf:params:sieve" + name, so ":addrbook:default" reaches
//     ListContains as "urn:ietf:params:sieve:addrbook:default"; :list
//     ignores the comparator.
//   - The address test accepts address fields and X- fields only; envelope
//     accepts "from" and "to"; i;ascii-numeric refuses :contains and
//     :matches; variable namespaces ("${env.x}") are compile errors.
//   - vacation: :days 0 counts as 1, :seconds 0 is allowed; without :handle
//     the handle hashes the reason, :subject, :from and :mime (RFC 5230 §4.2).
//   - encoded-character: malformed sequences stay as written; a code point
//     outside Unicode scalar values is a compile error (RFC 5228 §2.4.2.4).
//   - body: :content matches leaf parts only (never multipart containers);
//     :text gives the text/* parts with HTML tags removed; broken MIME falls
//     back to the raw body. Multi-line strings keep the script's line ends.
package sieve
