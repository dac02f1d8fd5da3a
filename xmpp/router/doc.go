// Package router is the XMPP session registry and stanza router of one
// node, with the server-side features that answer on behalf of the server
// and its accounts: roster and presence (RFC 6121), offline messages,
// carbons (XEP-0280), blocking (XEP-0191), vcard-temp (XEP-0054), private
// storage (XEP-0049), last activity (XEP-0012), ping (XEP-0199), version
// (XEP-0092), disco (XEP-0030) with contact addresses (XEP-0157) and the
// XEP-0115 caps hash of the server, and the password change of XEP-0077.
//
// Streams (xmpp/c2s, later xmpp/s2s) bind a [Session] and hand every
// stanza to [Resource.Handle] or [Router.Route]. The router never writes
// to a socket: Session.Send only queues, so one slow client cannot stall
// another, and no lock is held while a stanza goes to storage or to
// another server. Router.mu guards the registry and per-resource presence
// state; it is never held across Route.
//
// Delivery follows RFC 6121 §8.5: a message to a bare JID goes to the
// available resources of the highest non-negative priority (headlines to
// all of them), or offline storage when there are none; presence goes to
// all available resources; IQs to a bare JID are answered by the server
// on the account's behalf. "No such user" and "not allowed" (blocked, XMPP
// switched off) answer alike with service-unavailable.
//
// Storage (roster, offline, vCard, private, block list, last logout) is
// xmpp/storage; accounts come from the shared account store.
package router
