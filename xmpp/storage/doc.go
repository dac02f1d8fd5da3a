// Package storage owns the XMPP server's per-user state in the shared
// database: the roster and its subscription state machine, offline messages,
// vcard-temp, private XML storage, the block list and last activity. The
// protocol packages (xmpp/c2s, xmpp/router) translate stanzas to these
// calls and never see SQL.
//
// Tables (migration 0005_xmpp), each keyed by the accounts user ID with ON
// DELETE CASCADE, so deleting a user removes all of it; no other package
// writes them:
//   - xmpp_users: one row per user with the roster version counter and the
//     last logout (XEP-0012). Every transaction that changes the roster or
//     checks a limit first locks this row (SELECT … FOR UPDATE on
//     PostgreSQL; SQLite's single writer serialises anyway), so one user's
//     writes never interleave: limits are exact, and the version advances by
//     one per visible change, never skipping or repeating.
//   - xmpp_roster: one row per (user, contact bare JID) with name, groups
//     (a JSON array: groups are always read and written with their item and
//     never queried), subscription, pending_out (ask='subscribe'),
//     pending_in, approved and hidden.
//   - xmpp_offline: messages kept while no client is available
//     (RFC 6121 §8.5.2.1.1), oldest first by ID, with their arrival time
//     for XEP-0203 delay stamps.
//   - xmpp_vcards (XEP-0054) and xmpp_private (XEP-0049, keyed by the
//     child element's namespace and local name): serialized XML as given.
//   - xmpp_blocklist (XEP-0191): JIDs in insertion order.
//
// Implementation notes:
//   - The subscription state machine is transition, a pure function of
//     the item and the [Event] following RFC 6121 Appendix A (A.2 for
//     stanzas the owner sends, A.3 for those the owner receives), tested
//     over all nine states and eight events. [Store.Apply] runs it in one
//     transaction and writes the result. One departure: a subscribe that
//     arrives while an earlier one is still pending is delivered again
//     (A.3.1 would drop it), so a client that missed the prompt sees it.
//   - A missing row behaves as a hidden item with subscription none. An
//     inbound subscribe from a stranger therefore creates a hidden row: the
//     request must survive until answered (RFC 6121 §3.1.3), yet the
//     stranger must not appear in the roster. A hidden row becomes visible
//     when the owner subscribes, approves or sets the item, and is deleted
//     when nothing is pending any more.
//   - Roster versions (XEP-0237) are a per-user counter shown in decimal;
//     "0" before the first change. Only visible changes count: name,
//     groups, subscription, ask, approved, and an item appearing or going.
//     A changed pending_in alone is not visible (a roster item does not
//     carry it), so it neither pushes nor bumps the version.
//   - Limits ([Config]) keep one user from filling the database: visible
//     roster items, and separately remembered requests from strangers,
//     are each bounded by MaxRosterItems; offline messages by MaxOffline;
//     block list entries by MaxBlocked; private XML keys by MaxPrivate.
//   - Lists are sorted in Go where the order is by text, not with ORDER BY,
//     because a PostgreSQL collation could order differently from SQLite.
package storage
