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
package sieve
