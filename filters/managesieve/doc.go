// Package managesieve is the ManageSieve server (RFC 5804): users upload,
// check, list, activate, fetch, rename and delete their Sieve scripts in
// the per-user store of package filters, on port 4190 with STARTTLS.
//
// Implementation notes:
//   - Commands: AUTHENTICATE, STARTTLS, LOGOUT, CAPABILITY, HAVESPACE,
//     PUTSCRIPT, LISTSCRIPTS, SETACTIVE, GETSCRIPT, DELETESCRIPT,
//     RENAMESCRIPT, CHECKSCRIPT, NOOP and UNAUTHENTICATE (RFC 5804 §2.1–
//     §2.14). Before AUTHENTICATE only AUTHENTICATE, STARTTLS, LOGOUT,
//     CAPABILITY and NOOP are accepted; the others get NO (§2). Referrals,
//     the sieve: URL scheme (§3) and ANONYMOUS are not offered.
//   - Capabilities (§1.7): IMPLEMENTATION "Tidings", SASL, SIEVE (the
//     engine's extensions, Server.Extensions), NOTIFY (when enotify is
//     among them), MAXREDIRECTS, STARTTLS (before TLS only, §2.2), OWNER
//     (after login), UNAUTHENTICATE and VERSION "1.0". They are sent at
//     connect and again, unasked, after STARTTLS.
//   - Authentication: SASL PLAIN (RFC 4616) with or without an initial
//     response; the continuation is an empty challenge "" answered by a
//     quoted string or a literal, or "*" to cancel (§2.1). PLAIN is offered
//     only inside TLS (before it SASL is empty and AUTHENTICATE gets NO
//     (ENCRYPT-NEEDED)) unless Config.AllowInsecureAuth. LOGIN, CRAM-MD5
//     and DIGEST-MD5 get NO (AUTH-TOO-WEAK). Logins go through
//     accounts.Store.Authenticate (the shared throttle, then LoginAllowed
//     for ServiceManageSieve); a throttled login gets NO (TRYLATER). The
//     authorisation identity may only name the user. After
//     MaxAuthFailures failures the connection ends with BYE. No
//     re-authentication: a second AUTHENTICATE gets NO (§2.1).
//   - Scripts map to filters.Scripts: the store's errors become the
//     response codes NONEXISTENT, ALREADYEXISTS, ACTIVE, QUOTA/MAXSCRIPTS
//     and QUOTA/MAXSIZE (§1.3); other failures are logged and answered
//     NO (TRYLATER). PUTSCRIPT and CHECKSCRIPT compile first
//     (Scripts.Check); a compile error goes to the client as NO with the
//     engine's message (quoted, or a literal when it spans lines, §2.6).
//     Empty scripts (PUTSCRIPT, §2.6 SHOULD) and non-UTF-8 ones are
//     refused. WARNINGS is never sent.
//   - Parsing (§4): atoms, quoted strings (at most 1024 octets, only \" and
//     \\ escaped) and literals. Clients send literals as {N+}; {N} is read
//     the same way (there is no continuation request for literals in
//     ManageSieve, so no client can be waiting for one). A whole command
//     is read before it runs, so a refused command never leaves part of
//     itself to be taken as the next one.
//   - Limits: a command line is at most Config.MaxLineLength bytes; a
//     literal at most the script size limit (filters max_script_size)
//     after login and MaxLineLength before. An oversized literal or line
//     after login is read and dropped (up to Config.MaxDiscard bytes) and
//     answered NO (QUOTA/MAXSIZE) or NO "Line too long", so the connection
//     stays in step and lives on; anything larger, and any oversized input
//     before login, ends the connection with BYE (QUOTA/MAXSIZE). Nothing
//     is buffered beyond the limits. Malformed input gets NO with a reason
//     and the connection goes on.
//   - Timeouts: AuthTimeout from connect (or UNAUTHENTICATE) to login,
//     then IdleTimeout (at least 30 minutes, §1.2) between commands;
//     either ends with BYE. Connections per client address are limited at
//     accept (internal/connlimit) with BYE (TRYLATER).
//   - STARTTLS drops whatever the client pipelined behind it in clear text
//     (§2.2: the client must wait), so nothing injected before TLS runs.
//   - Lifecycle: Shutdown stops accepting and ends every connection with
//     BYE (TRYLATER) "Server shutting down" — at once if it waits for a
//     command, else when the command is answered — and closes what is left
//     when its context ends. Account events (password changed, disabled,
//     deleted, mail switched off) end the user's sessions with BYE; a
//     session is filed under its user before the password is checked, so
//     a change during the check is not missed.
//   - Each connection has its own context (cancelled at close) for store
//     calls, and recovers panics at its boundary (BYE, logged with the
//     stack, counted by Server.Panics). Logs carry cid, remote and user;
//     SASL data and script contents are never logged (only sizes).
package managesieve
