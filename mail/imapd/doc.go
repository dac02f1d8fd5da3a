// Package imapd is the IMAP server: IMAP4rev2 (RFC 9051) and IMAP4rev1
// (RFC 3501) on port 143 with STARTTLS and port 993 with implicit TLS
// (RFC 8314), over the message store of mail/store. It implements the
// Session interface of imapserver (go-imap's, forked in-tree), which
// parses commands and writes responses; this package translates them into
// store calls.
//
// Implementation notes:
//   - Authentication: LOGIN and AUTHENTICATE PLAIN (RFC 4616) against
//     accounts.Store.Authenticate with the full address as the user name,
//     under the shared failed-login throttle. Before TLS the server
//     advertises LOGINDISABLED and refuses both (RFC 9051 §6.2.3,
//     imapserver's InsecureAuth=false). A throttled login gets
//     NO [UNAVAILABLE], bad credentials NO [AUTHENTICATIONFAILED] (RFC 5530).
//   - Sequence numbers: each selected mailbox has one shared state (the
//     UIDs in server order) and one imapserver.MailboxTracker; every
//     session that selects it gets a SessionTracker that maps sequence
//     numbers between the server's and the client's view and queues
//     EXISTS, EXPUNGE, FETCH FLAGS and FLAGS updates (RFC 9051 §7.5). The
//     state is fed from the store's change bus, one subscription per
//     logged-in user, so deliveries by SMTP and changes by other sessions
//     reach IDLE (RFC 2177) and NOOP. A session applies its own changes at
//     once as well (their responses belong before its tagged OK); applying
//     is idempotent (new UIDs above the last known one, expunges of known
//     UIDs, flag changes by MODSEQ), so the bus's copy of the same change
//     is ignored. A FETCH or STORE answer, read from the store, may be
//     newer than the shared state: it brings the state up to date and drops
//     the older updates queued for that session, so that no client sees a
//     message's MODSEQ go back. If the bus drops changes for a slow user,
//     the mailboxes are resynchronised from the store.
//   - New messages are announced one EXISTS at a time: the tracker's
//     EncodeSeqNum only recognises a pending EXISTS that is exactly one
//     above the previous count.
//   - UIDPLUS (RFC 4315): APPENDUID, COPYUID and UID EXPUNGE. MOVE
//     (RFC 6851) is one store transaction: COPYUID, then the EXPUNGEs.
//   - LIST (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS):
//     \HasChildren/\HasNoChildren always, the RFC 6154 special-use
//     attributes always, \Subscribed when asked; patterns with * and % via
//     imapserver.MatchList. LSUB is LIST of subscribed mailboxes.
//   - FETCH: ENVELOPE comes from the envelope cached at delivery; BODY[]
//     is streamed from the store; other sections, BODYSTRUCTURE and BINARY
//     (RFC 3516) are computed from the stored message with imapserver's
//     helpers. A body section without .PEEK sets \Seen, and the changed
//     FLAGS are returned with it.
//   - SELECT loads the UIDs and MODSEQs of the mailbox, and the keywords
//     in use, from indexes (store.LoadIndex), reading no message rows. A
//     mailbox released by its last session stays loaded, and fed, while
//     its user is logged in (the last keepIdle of them), so that selecting
//     it again needs no reload.
//   - SEARCH: FROM, TO, CC, BCC and SUBJECT are matched by the store in
//     one query each (store.SearchHeader); flags, sizes and dates come
//     from the cached fields, read only when a key needs them; other
//     header fields, BODY and TEXT read the messages.
//     ESEARCH (RFC 4731) and SEARCHRES (RFC 5182) are handled by the
//     library's parser and this package's saved result.
//   - Limits: APPENDLIMIT (RFC 7889) is the largest APPEND literal;
//     literals of other commands are capped at 4 KiB by the library. The
//     idle timeout is at least 30 minutes (RFC 9051 §5.4); the library sets
//     35 minutes and this package replaces that deadline with
//     Config.IdleTimeout. Connections per client address are limited at
//     accept, sessions per user at login (NO [LIMIT]).
//   - Shutdown: imapserver.Server has no graceful shutdown (go-imap issue
//     #665). Shutdown closes the listeners, sends BYE (RFC 9051 §7.1.5) to
//     every session that is not inside a command, then to the others as
//     their command ends, and closes what is left when the context ends.
//   - Account events: a session whose user changed password, was disabled
//     or deleted, or may no longer use IMAP is ended with BYE.
//   - CONDSTORE and QRESYNC (RFC 7162), QUOTA (RFC 9208) and ID (RFC 2971)
//     need an in-tree fork of imapserver (./imapserver, FORK.md lists the
//     changes). Every message has the MODSEQ of its last change and the
//     store keeps (uid, modseq) of every expunged message, so VANISHED
//     (EARLIER) is exact and seq-match data is ignored; it leaves out the
//     expunges that have not reached the session yet, which the client
//     still counts and gets as a live VANISHED. HIGHESTMODSEQ at
//     SELECT is the mailbox's as read before the session's state, never
//     above what the session will be told. A STORE with .SILENT still
//     answers with the new MODSEQ once CONDSTORE is on. The quota root is
//     "" for the whole account (STORAGE in KiB), absent without a quota;
//     SETQUOTA is refused (quotas are the administrator's).
//   - Not yet: SORT, THREAD, COMPRESS, NOTIFY, METADATA.
package imapd
