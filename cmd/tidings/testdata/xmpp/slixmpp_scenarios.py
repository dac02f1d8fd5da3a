#!/usr/bin/python3
"""XMPP client interop scenarios for cmd/tidings/interop_xmpp_test.go.

Drives a running `tidings serve` with slixmpp (Debian python3-slixmpp,
1.8.3), a client library nobody here wrote, and with go-sendxmpp, and
prints one line per scenario:

    PASS <name> (<seconds>s): <what was observed>
    FAIL <name> (<seconds>s): <what went wrong>
    SKIP <name> (<seconds>s): <why>

Lines that follow a FAIL line and start with two spaces belong to it: the
stanzas the scenario's clients sent (->) and received (<-). The last line
is "DONE <passed> passed, <failed> failed, <skipped> skipped".

The only argument is a JSON object: host, port (listen.xmpp_client,
STARTTLS), tls_host and tls_port (listen.xmpp_client_tls, direct TLS),
domain, juliet, romeo and tybalt (bare JIDs of three accounts), password
(theirs), sendxmpp (the go-sendxmpp binary, "" to skip its scenarios),
home (a directory for its HOME), and optionally only (a list of scenario
names to run) and verbose (print every scenario's stanzas).
Exit status: 0 if every scenario passed or was skipped, 1 otherwise.
"""

import asyncio
import datetime
import json
import os
import ssl
import sys
import time
import traceback

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

CFG = json.loads(sys.argv[1])
DOMAIN = CFG["domain"]
JULIET = CFG["juliet"]
ROMEO = CFG["romeo"]
TYBALT = CFG["tybalt"]  # an account in nobody's roster
NURSE = "nurse@" + DOMAIN  # a roster entry only; no such account is needed

NS_DELAY = "urn:xmpp:delay"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"

WAIT = 5.0    # longest wait for something that must happen
QUIET = 1.0   # how long to watch for something that must not happen


class Failure(Exception):
    """A scenario's assertion failed."""


def check(cond, what):
    if not cond:
        raise Failure(what)


# TRACE is every stanza of the current scenario, as "seconds label ->/<- xml".
TRACE = []
T0 = time.monotonic()


def trace(label, arrow, stanza):
    text = str(stanza)
    if len(text) > 700:
        text = text[:700] + "…"
    TRACE.append("%8.3f %s %s %s" % (time.monotonic() - T0, label, arrow, text))


class Inbox:
    """Stanzas of one kind received by one client, taken by predicate."""

    def __init__(self, label, kind):
        self.label, self.kind, self.items = label, kind, []

    def put(self, item):
        self.items.append(item)

    def _take(self, pred):
        for i, item in enumerate(self.items):
            if pred(item):
                del self.items[i]
                return item
        return None

    async def get(self, what, pred=lambda s: True, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            item = self._take(pred)
            if item is not None:
                return item
            if time.monotonic() > deadline:
                raise Failure("%s: no %s (%s) within %.0f s" % (self.label, self.kind, what, timeout))
            await asyncio.sleep(0.02)

    async def none(self, what, pred=lambda s: True, wait=QUIET):
        await asyncio.sleep(wait)
        item = self._take(pred)
        check(item is None, "%s: got a %s (%s), want none: %s" % (self.label, self.kind, what, item))

    def clear(self):
        self.items.clear()


class Client(slixmpp.ClientXMPP):
    """One slixmpp client with everything it receives kept in inboxes."""

    def __init__(self, bare, resource, password=None):
        super().__init__("%s/%s" % (bare, resource), password or CFG["password"])
        self.label = "%s/%s" % (bare.split("@")[0], resource)
        # The server's certificate is self-signed for the test hostname.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        # Subscriptions are the scenarios' business, not automatic.
        self.auto_authorize = None
        self.auto_subscribe = False
        for p in ("xep_0030", "xep_0054", "xep_0191", "xep_0199", "xep_0203", "xep_0280", "xep_0297"):
            self.register_plugin(p)
        self.messages = Inbox(self.label, "message")
        self.errors = Inbox(self.label, "error message")
        self.presences = Inbox(self.label, "presence")
        self.pushes = Inbox(self.label, "roster push")
        self.carbons = Inbox(self.label, "carbon")
        self.blockpushes = Inbox(self.label, "block-list push")
        self.auth_failures = []  # (mechanism, condition, text)
        self.mech = None
        self.ready = asyncio.Event()
        self.gone = asyncio.Event()
        self.connected_once = False

        self.add_filter("in", self._trace_in)
        self.add_filter("out", self._trace_out)
        self.add_event_handler("connected", lambda _: setattr(self, "connected_once", True))
        self.add_event_handler("session_start", lambda _: self.ready.set())
        self.add_event_handler("disconnected", lambda _: self.gone.set())
        self.add_event_handler("failed_auth", self._failed_auth)
        self.add_event_handler("auth_success", lambda _: setattr(self, "mech", self["feature_mechanisms"].mech.name))
        self.add_event_handler("message", self._message)
        self.add_event_handler("message_error", self.errors.put)
        self.add_event_handler("presence", self.presences.put)
        self.add_event_handler("roster_update", lambda iq: iq["type"] == "set" and self.pushes.put(iq))
        self.add_event_handler("carbon_received", lambda m: self.carbons.put(("received", m)))
        self.add_event_handler("carbon_sent", lambda m: self.carbons.put(("sent", m)))
        self.add_event_handler("blocked", lambda iq: self.blockpushes.put(("block", iq)))
        self.add_event_handler("unblocked", lambda iq: self.blockpushes.put(("unblock", iq)))

    def _trace_in(self, stanza):
        trace(self.label, "<-", stanza)
        return stanza

    def _trace_out(self, stanza):
        trace(self.label, "->", stanza)
        return stanza

    def _failed_auth(self, stanza):
        self.auth_failures.append((self["feature_mechanisms"].mech.name, stanza["condition"], stanza["text"]))

    def _message(self, msg):
        if msg["type"] != "error":  # those go to errors through message_error
            self.messages.put(msg)


CLIENTS = []


async def login(bare, resource, *, password=None, tls=False, roster=True, presence=True, status=None):
    """Connects, authenticates and binds; fetches the roster and sends
    initial presence unless told not to. Returns the client."""
    c = Client(bare, resource, password)
    CLIENTS.append(c)
    if tls:
        c.connect((CFG["tls_host"], CFG["tls_port"]), use_ssl=True)
    else:
        c.connect((CFG["host"], CFG["port"]))
    ready = asyncio.ensure_future(c.ready.wait())
    gone = asyncio.ensure_future(c.gone.wait())
    await asyncio.wait([ready, gone], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    gone.cancel()
    if not c.ready.is_set():
        raise Failure("%s: no session within 10 s (disconnected: %s; SASL failures: %s)" % (c.label, c.gone.is_set(), c.auth_failures))
    check(str(c.boundjid) == "%s/%s" % (bare, resource), "%s: bound %s, want %s/%s" % (c.label, c.boundjid, bare, resource))
    if roster:
        await c.get_roster(timeout=WAIT)
    if presence:
        c.send_presence(pstatus=status)
    return c


async def close(*cs):
    """Ends the streams of cs and waits until they are closed."""
    waits = []
    for c in cs:
        if c.connected_once and not c.gone.is_set():
            c.disconnect()
            waits.append(c.gone.wait())
    if waits:
        await asyncio.wait_for(asyncio.gather(*waits), 5)


async def close_all():
    try:
        await close(*CLIENTS)
    finally:
        CLIENTS.clear()


async def fetch_roster(c):
    """The whole roster, asked for without a version (slixmpp's get_roster
    sends the last version it saw, to which the server may answer with an
    empty result: RFC 6121 §2.6.3)."""
    iq = c.Iq()
    iq["type"] = "get"
    iq.enable("roster")
    return await iq.send(timeout=WAIT)


def roster_item(iq, jid):
    """The roster item for jid in a roster result or push: a dict, or None."""
    items = iq["roster"]["items"]
    for k, v in items.items():
        if str(k) == jid:
            return {"subscription": v["subscription"], "ask": v["ask"], "name": v["name"], "groups": sorted(v["groups"])}
    return None


def push_for(jid, subscription=None, ask=None):
    """A predicate for a roster push about jid with the given state."""
    def pred(iq):
        item = roster_item(iq, jid)
        if item is None:
            return False
        if subscription is not None and item["subscription"] != subscription:
            return False
        if ask is not None and item["ask"] != ask:
            return False
        return True
    return pred


def presence_from(jid, ptype=None, status=None):
    """A predicate for presence from jid (bare or full) of ptype
    ("available" for none)."""
    def pred(p):
        frm = p["from"]
        if str(frm) != jid and frm.bare != jid:
            return False
        if ptype is not None and p["type"] != ptype:
            return False
        if status is not None and p["status"] != status:
            return False
        return True
    return pred


def error_condition(stanza):
    return stanza["error"]["condition"], stanza["error"]["type"]


# ---------------------------------------------------------------- scenarios

async def scram_login():
    c = await login(JULIET, "balcony", roster=False, presence=False)
    check(c.mech is not None and c.mech.startswith("SCRAM-SHA-") and not c.mech.endswith("-PLUS"),
          "authenticated with %r, want SCRAM-SHA-* (without -PLUS: slixmpp binds tls-unique only)" % c.mech)
    for mech, cond, text in c.auth_failures:
        check(mech.endswith("-PLUS"), "the server refused %s (%s: %s) before accepting %s" % (mech, cond, text, c.mech))
    refused = ", ".join("%s (%s: %s)" % f for f in c.auth_failures) or "nothing"
    return "SASL %s over STARTTLS (server signature verified by slixmpp), bound %s; refused first: %s" % (c.mech, c.boundjid, refused)


async def direct_tls_login():
    c = await login(ROMEO, "garden", tls=True, roster=False, presence=False)
    check(c.mech is not None and c.mech.startswith("SCRAM-SHA-"), "authenticated with %r, want SCRAM-SHA-*" % c.mech)
    version = c.socket.version() if c.socket is not None and hasattr(c.socket, "version") else "?"
    return "SASL %s over direct TLS (%s), bound %s" % (c.mech, version, c.boundjid)


async def wrong_password():
    c = Client(JULIET, "intruder", "not-the-password")
    CLIENTS.append(c)
    c.connect((CFG["host"], CFG["port"]))
    ready = asyncio.ensure_future(c.ready.wait())
    gone = asyncio.ensure_future(c.gone.wait())
    await asyncio.wait([ready, gone], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    gone.cancel()
    check(not c.ready.is_set(), "a session with the wrong password: bound %s" % c.boundjid)
    check(c.mech is None or not c.authenticated, "SASL succeeded with the wrong password (%s)" % c.mech)
    conds = [f[1] for f in c.auth_failures]
    check("not-authorized" in conds, "SASL failures %s, want not-authorized among them" % c.auth_failures)
    check(c.gone.is_set(), "the stream is still open 10 s after the failures")
    await close(c)
    # A fresh login with the right password works afterwards.
    ok = await login(JULIET, "balcony", roster=False, presence=False)
    return "wrong password refused (%s), stream closed; then %s logged in with %s" % (
        ", ".join("%s: %s" % (m, cnd) for m, cnd, _ in c.auth_failures), ok.boundjid, ok.mech)


async def two_resources():
    a = await login(JULIET, "balcony")
    b = await login(JULIET, "chamber")
    check(str(a.boundjid) != str(b.boundjid), "both bound %s" % a.boundjid)
    # RFC 6121 §4.2.2: initial presence goes to the user's other available resources.
    await a.presences.get("available from juliet/chamber", presence_from(JULIET + "/chamber", "available"))
    await b.presences.get("available from juliet/balcony", presence_from(JULIET + "/balcony", "available"))
    # Both sessions answer: a server ping on each.
    for c in (a, b):
        await c["xep_0199"].send_ping(DOMAIN, timeout=WAIT)
    return "bound %s and %s at once; each got the other's available presence" % (a.boundjid, b.boundjid)


async def roster_push():
    a = await login(JULIET, "balcony")
    b = await login(JULIET, "chamber")
    await a.update_roster(NURSE, name="Nurse", groups=["Household"], timeout=WAIT)
    for c in (a, b):  # RFC 6121 §2.3.2: pushed to every interested resource
        iq = await c.pushes.get("adding %s" % NURSE, push_for(NURSE, "none"))
        item = roster_item(iq, NURSE)
        check(item["name"] == "Nurse" and item["groups"] == ["Household"],
              "%s: push %s, want name Nurse, group Household" % (c.label, item))
        check(iq["from"].bare in ("", JULIET), "%s: push from %s" % (c.label, iq["from"]))
    got = await fetch_roster(b)
    item = roster_item(got, NURSE)
    check(item is not None and item["name"] == "Nurse", "chamber's roster get: %s, want the Nurse item" % item)
    # Removing it pushes subscription="remove".
    await a.del_roster_item(NURSE)
    await b.pushes.get("removing %s" % NURSE, push_for(NURSE, "remove"))
    got = await fetch_roster(b)
    check(roster_item(got, NURSE) is None, "%s still in the roster after removal" % NURSE)
    return "balcony set %s (Nurse, Household): both resources got the push, chamber's roster has it; removal pushed too" % NURSE


async def subscription():
    j = await login(JULIET, "balcony", status="On the balcony")
    r = await login(ROMEO, "garden", status="In the orchard")
    steps = []

    # 1. juliet subscribes to romeo (RFC 6121 §3.1).
    j.send_presence(pto=ROMEO, ptype="subscribe")
    await j.pushes.get("romeo none+ask", push_for(ROMEO, "none", "subscribe"))
    p = await r.presences.get("subscribe from juliet", presence_from(JULIET, "subscribe"))
    check(str(p["from"]) == JULIET, "subscribe request from %s, want the bare %s (§3.1.2)" % (p["from"], JULIET))
    steps.append("juliet→subscribe: juliet push none/ask=subscribe, romeo got the request")

    # 2. romeo approves.
    r.send_presence(pto=JULIET, ptype="subscribed")
    await r.pushes.get("juliet from", push_for(JULIET, "from"))
    await j.pushes.get("romeo to", push_for(ROMEO, "to"))
    await j.presences.get("subscribed from romeo", presence_from(ROMEO, "subscribed"))
    await j.presences.get("romeo's available presence after approval (§3.1.5)",
                          presence_from(ROMEO + "/garden", "available", "In the orchard"))
    steps.append("romeo→subscribed: romeo push from, juliet push to + subscribed + romeo's presence")

    # 3. romeo subscribes back.
    r.send_presence(pto=JULIET, ptype="subscribe")
    await r.pushes.get("juliet from+ask", push_for(JULIET, "from", "subscribe"))
    await j.presences.get("subscribe from romeo", presence_from(ROMEO, "subscribe"))
    steps.append("romeo→subscribe: romeo push from/ask=subscribe, juliet got the request")

    # 4. juliet approves.
    j.send_presence(pto=ROMEO, ptype="subscribed")
    await j.pushes.get("romeo both", push_for(ROMEO, "both"))
    await r.pushes.get("juliet both", push_for(JULIET, "both"))
    await r.presences.get("subscribed from juliet", presence_from(JULIET, "subscribed"))
    await r.presences.get("juliet's available presence after approval",
                          presence_from(JULIET + "/balcony", "available", "On the balcony"))
    steps.append("juliet→subscribed: both pushed both, romeo got subscribed + juliet's presence")

    # The stored rosters say both, with nothing pending.
    for c, other in ((j, ROMEO), (r, JULIET)):
        got = await fetch_roster(c)
        item = roster_item(got, other)
        check(item is not None and item["subscription"] == "both" and not item["ask"],
              "%s's roster: %s is %s, want subscription both, no ask" % (c.label, other, item))

    # Each sees the other's presence changes...
    j.presences.clear()
    r.presences.clear()
    r.send_presence(pshow="away", pstatus="Beneath the window")
    p = await j.presences.get("romeo away", presence_from(ROMEO + "/garden", "away", "Beneath the window"))
    j.send_presence(pshow="dnd", pstatus="Asleep")
    await r.presences.get("juliet dnd", presence_from(JULIET + "/balcony", "dnd", "Asleep"))
    # ...and a new resource: a fresh login of romeo's is probed and seen.
    r2 = await login(ROMEO, "gate", status="At the gate")
    await j.presences.get("romeo/gate available", presence_from(ROMEO + "/gate", "available", "At the gate"))
    await r2.presences.get("juliet's presence (probe answered on login)", presence_from(JULIET + "/balcony", "dnd"))
    # ...and going offline.
    await close(r2)
    await j.presences.get("romeo/gate unavailable", presence_from(ROMEO + "/gate", "unavailable"))
    return "; ".join(steps) + "; rosters both/both; presence changes, a new resource (probe) and logout seen across"


async def messages():
    j = await login(JULIET, "balcony")
    r = await login(ROMEO, "garden")
    body = "O Romeo, Romeo! <wherefore> art thou & why? 💌"
    m = j.make_message(mto=ROMEO, mbody=body, mtype="chat")
    m["id"] = "juliet-1"
    m["thread"] = "balcony-scene"
    m.send()
    got = await r.messages.get("from juliet", lambda s: s["body"] == body)
    check(str(got["from"]) == JULIET + "/balcony", "from %s, want %s/balcony" % (got["from"], JULIET))
    check(got["type"] == "chat" and got["id"] == "juliet-1" and got["thread"] == "balcony-scene",
          "type %r id %r thread %r, want chat juliet-1 balcony-scene" % (got["type"], got["id"], got["thread"]))
    reply = "Call me but love, and I'll be new baptized."
    r.send_message(mto=JULIET + "/balcony", mbody=reply, mtype="chat")
    got = await j.messages.get("from romeo", lambda s: s["body"] == reply)
    check(str(got["from"]) == ROMEO + "/garden", "from %s, want %s/garden" % (got["from"], ROMEO))
    # A normal message (no type) to the bare JID.
    r.send_message(mto=JULIET, mbody="A normal message", mtype="normal")
    got = await j.messages.get("normal from romeo", lambda s: s["body"] == "A normal message")
    return "juliet→romeo (bare, chat, id/thread kept, XML special characters and emoji intact), romeo→juliet/balcony, normal message to bare JID"


async def offline():
    # Nobody of romeo's is online (the earlier scenarios closed every stream).
    j = await login(JULIET, "balcony")
    before = datetime.datetime.now(datetime.timezone.utc)
    bodies = ["Offline one: parting is such sweet sorrow", "Offline two: till it be morrow"]
    for b in bodies:
        j.send_message(mto=ROMEO, mbody=b, mtype="chat")
    await j["xep_0199"].send_ping(DOMAIN, timeout=WAIT)  # the messages were handled before this answer
    errs = [str(e) for e in j.errors.items]
    check(not errs, "juliet got errors for the offline messages: %s" % errs)
    await asyncio.sleep(0.2)
    r = await login(ROMEO, "garden")
    details = []
    for b in bodies:
        got = await r.messages.get("offline %r" % b, lambda s, b=b: s["body"] == b)
        check(str(got["from"]) == JULIET + "/balcony", "from %s, want %s/balcony" % (got["from"], JULIET))
        delay = got.xml.find("{%s}delay" % NS_DELAY)
        check(delay is not None, "no XEP-0203 <delay/> on the offline message: %s" % got)
        stamp = delay.get("stamp", "")
        try:
            when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            raise Failure("delay stamp %r is not an XEP-0082 DateTime" % stamp)
        check(when.tzinfo is not None, "delay stamp %r has no time zone" % stamp)
        now = datetime.datetime.now(datetime.timezone.utc)
        check(before - datetime.timedelta(seconds=2) <= when <= now + datetime.timedelta(seconds=2),
              "delay stamp %s is not between %s and %s" % (when, before, now))
        details.append("stamp=%s from=%s" % (stamp, delay.get("from")))
    # Delivered means gone from storage: another login gets nothing.
    await close(r)
    r2 = await login(ROMEO, "gate")
    await r2.messages.none("offline message again", lambda s: s["body"] in bodies)
    return "2 messages stored while romeo was offline, delivered on login with <delay/> (%s); not again on the next login" % "; ".join(details)


async def carbons():
    a = await login(JULIET, "balcony")
    b = await login(JULIET, "chamber")
    r = await login(ROMEO, "garden")
    for c in (a, b):
        await c["xep_0280"].enable(timeout=WAIT)
    # Received carbon: romeo writes to juliet/balcony; chamber gets a copy.
    body = "Carbon in: what light through yonder window breaks?"
    r.send_message(mto=JULIET + "/balcony", mbody=body, mtype="chat")
    got = await a.messages.get("romeo's message", lambda s: s["body"] == body)
    kind, wrapper = await b.carbons.get("received carbon", lambda c: c[0] == "received")
    inner = wrapper["carbon_received"]
    check(inner["body"] == body and str(inner["from"]) == ROMEO + "/garden" and str(inner["to"]) == JULIET + "/balcony",
          "received carbon carries from %s to %s body %r, want %s/garden → %s/balcony %r" % (inner["from"], inner["to"], inner["body"], ROMEO, JULIET, body))
    check(str(wrapper["from"]) == JULIET, "carbon wrapper from %s, want the bare %s (XEP-0280 §11)" % (wrapper["from"], JULIET))
    await a.carbons.none("carbon of a message it got itself")
    await b.messages.none("the original as well as the carbon", lambda s: s["body"] == body, wait=0)
    # Sent carbon: juliet/balcony writes to romeo; chamber gets a copy.
    body2 = "Carbon out: it is the east, and Juliet is the sun."
    a.send_message(mto=ROMEO + "/garden", mbody=body2, mtype="chat")
    await r.messages.get("juliet's message", lambda s: s["body"] == body2)
    kind, wrapper = await b.carbons.get("sent carbon", lambda c: c[0] == "sent")
    inner = wrapper["carbon_sent"]
    check(inner["body"] == body2 and str(inner["to"]) == ROMEO + "/garden" and str(inner["from"]) == JULIET + "/balcony",
          "sent carbon carries from %s to %s body %r" % (inner["from"], inner["to"], inner["body"]))
    check(str(wrapper["from"]) == JULIET, "sent carbon wrapper from %s, want %s" % (wrapper["from"], JULIET))
    await a.carbons.none("sent carbon of its own message")
    return "romeo→juliet/balcony: chamber got a received carbon; juliet/balcony→romeo: chamber got a sent carbon; wrappers from the bare JID, none to the sender"


async def blocking():
    a = await login(JULIET, "balcony")
    b = await login(JULIET, "chamber")
    r = await login(ROMEO, "garden")
    # Romeo (subscribed to juliet) sees both her resources before anything is blocked.
    for res in ("balcony", "chamber"):
        await r.presences.get("juliet/%s available on login" % res, presence_from(JULIET + "/" + res, "available"))
    got = await b["xep_0191"].get_blocked(timeout=WAIT)  # chamber becomes interested in pushes
    check(len(got["blocklist"]["items"]) == 0, "block list at the start: %s" % got["blocklist"]["items"])
    r.presences.clear()

    await a["xep_0191"].block(ROMEO, timeout=WAIT)
    kind, iq = await b.blockpushes.get("block push", lambda x: x[0] == "block")
    check({str(j) for j in iq["block"]["items"]} == {ROMEO}, "block push %s, want %s" % (iq, ROMEO))
    got = await a["xep_0191"].get_blocked(timeout=WAIT)
    check({str(j) for j in got["blocklist"]["items"]} == {ROMEO}, "block list %s, want [%s]" % (got["blocklist"]["items"], ROMEO))
    # XEP-0191 §3.3: the blocked contact, allowed to see juliet's presence, gets her unavailable presence.
    for res in ("balcony", "chamber"):
        await r.presences.get("unavailable from juliet/%s after the block" % res, presence_from(JULIET + "/" + res, "unavailable"))

    body = "Blocked: deny thy father and refuse thy name"
    m = r.make_message(mto=JULIET, mbody=body, mtype="chat")
    m["id"] = "blocked-1"
    m.send()
    err = await r.errors.get("error for the blocked message", lambda s: s["id"] == "blocked-1")
    cond = error_condition(err)
    check(cond[0] == "service-unavailable", "error %s, want service-unavailable (XEP-0191 §3.3)" % (cond,))
    await a.messages.none("romeo's message while blocked", lambda s: s["body"] == body, wait=0.5)
    await b.messages.none("romeo's message while blocked", lambda s: s["body"] == body, wait=0)
    # §3.3: the user's own outbound stanzas to a blocked contact bounce with <blocked/>...
    m = a.make_message(mto=ROMEO, mbody="To a blocked contact", mtype="chat")
    m["id"] = "to-blocked-1"
    m.send()
    err = await a.errors.get("error for the message to a blocked contact", lambda s: s["id"] == "to-blocked-1")
    cond = error_condition(err)
    blocked_el = err.xml.find("{jabber:client}error/{%s}blocked" % NS_BLOCKING_ERRORS)
    check(cond[0] == "not-acceptable" and blocked_el is not None,
          "error %s (blocked element: %s), want not-acceptable with <blocked xmlns='%s'/> (XEP-0191 §3.3)" % (cond, blocked_el is not None, NS_BLOCKING_ERRORS))
    await r.messages.none("juliet's message to him while blocked", lambda s: s["body"] == "To a blocked contact", wait=0.3)
    # ...and her presence changes do not reach him: she appears offline.
    a.send_presence(pshow="chat", pstatus="While romeo is blocked")
    await b.presences.get("juliet/balcony's own change (the control)", presence_from(JULIET + "/balcony", "chat"))
    await r.presences.none("juliet's change while he is blocked", presence_from(JULIET), wait=0.5)

    r.presences.clear()
    await a["xep_0191"].unblock(ROMEO, timeout=WAIT)
    await b.blockpushes.get("unblock push", lambda x: x[0] == "unblock")
    got = await a["xep_0191"].get_blocked(timeout=WAIT)
    check(len(got["blocklist"]["items"]) == 0, "block list after unblock: %s" % got["blocklist"]["items"])
    body = "Unblocked: wherefore art thou"
    r.send_message(mto=JULIET + "/balcony", mbody=body, mtype="chat")
    await a.messages.get("romeo's message after the unblock", lambda s: s["body"] == body)
    # §3.4: "When the user unblocks communications with the contact, the
    # user's server MUST send the user's current presence information to
    # the contact" (romeo is subscribed, so he is allowed to see it).
    for res, show in (("balcony", "chat"), ("chamber", "available")):
        await r.presences.get("juliet/%s's current presence after the unblock (XEP-0191 §3.4)" % res,
                              presence_from(JULIET + "/" + res, show))
    return ("block pushed to chamber and listed; romeo got juliet's unavailable; his message bounced service-unavailable, not delivered; "
            "hers to him bounced not-acceptable+<blocked/>; her presence change hidden from him; unblock pushed, delivery and her presence restored")


async def blocking_stranger():
    # XEP-0191 §3.3: the unavailable presence on blocking goes to the
    # contact "only if the contact is allowed to receive presence
    # notifications from the user": tybalt, not in juliet's roster, must
    # learn nothing about her resources.
    t = await login(TYBALT, "street")
    a = await login(JULIET, "balcony")
    await a["xep_0191"].get_blocked(timeout=WAIT)
    t.presences.clear()
    await a["xep_0191"].block(TYBALT, timeout=WAIT)
    await t.presences.none("from juliet after she blocked him", presence_from(JULIET))
    # A message from him bounces like romeo's did.
    m = t.make_message(mto=JULIET, mbody="Tybalt's challenge", mtype="chat")
    m["id"] = "tybalt-1"
    m.send()
    err = await t.errors.get("error for the blocked message", lambda s: s["id"] == "tybalt-1")
    await a.messages.none("tybalt's message", lambda s: s["body"] == "Tybalt's challenge", wait=0.3)
    await a["xep_0191"].unblock(TYBALT, timeout=WAIT)
    await t.presences.none("from juliet after she unblocked him", presence_from(JULIET), wait=0.5)
    return "juliet blocked and unblocked tybalt (no subscription): he got no presence from her either time; his message bounced %s" % (error_condition(err)[0],)


async def vcard():
    j = await login(JULIET, "balcony")
    r = await login(ROMEO, "garden")
    v = j["xep_0054"].make_vcard()
    v["FN"] = "Juliet Capulet"
    v["NICKNAME"] = "Jules"
    v["DESC"] = "What's in a name? <that which we call a rose> & so on"
    await j["xep_0054"].publish_vcard(v, timeout=WAIT)
    got = await r["xep_0054"].get_vcard(JULIET, local=False, timeout=WAIT)
    card = got["vcard_temp"]
    check(got["from"].bare == JULIET, "vCard answer from %s, want %s" % (got["from"], JULIET))
    # slixmpp reads NICKNAME as a list of nicknames.
    check(card["FN"] == "Juliet Capulet" and list(card["NICKNAME"]) == ["Jules"] and card["DESC"] == v["DESC"],
          "romeo read FN %r NICKNAME %r DESC %r" % (card["FN"], card["NICKNAME"], card["DESC"]))
    # Romeo cannot set juliet's vCard.
    iq = r.make_iq_set(ito=JULIET)
    bad = r["xep_0054"].make_vcard()
    bad["FN"] = "Forged"
    iq.append(bad)
    try:
        await iq.send(timeout=WAIT)
        raise Failure("romeo set juliet's vCard: the server answered result")
    except IqError as e:
        forged_cond = e.iq["error"]["condition"]
    got = await j["xep_0054"].get_vcard(JULIET, local=False, timeout=WAIT)
    check(got["vcard_temp"]["FN"] == "Juliet Capulet", "juliet's vCard FN %r after romeo's attempt" % got["vcard_temp"]["FN"])
    return "juliet published FN/NICKNAME/DESC; romeo read them back from her bare JID; romeo's set on her JID refused (%s)" % forged_cond


async def ping():
    c = await login(JULIET, "balcony", roster=False, presence=False)
    start = time.monotonic()
    iq = await c["xep_0199"].send_ping(DOMAIN, timeout=WAIT)
    rtt = time.monotonic() - start
    check(iq["type"] == "result", "ping answered %s" % iq)
    check(str(iq["from"]) in (DOMAIN, ""), "ping answer from %s, want %s" % (iq["from"], DOMAIN))
    info = await c["xep_0030"].get_info(jid=DOMAIN, local=False, timeout=WAIT)
    features = set(info["disco_info"]["features"])
    want = {"urn:xmpp:ping", "urn:xmpp:carbons:2", "urn:xmpp:blocking", "vcard-temp"}
    check(want <= features, "server disco#info lacks %s; has %s" % (sorted(want - features), sorted(features)))
    return "XEP-0199 ping to %s: result in %.1f ms; disco#info lists %s" % (DOMAIN, rtt * 1000, ", ".join(sorted(want)))


async def sendxmpp(tls):
    if not CFG.get("sendxmpp"):
        return None
    r = await login(ROMEO, "garden")
    body = "go-sendxmpp over %s: thus with a kiss I die" % ("direct TLS" if tls else "STARTTLS")
    args = [CFG["sendxmpp"], "-n", "-u", JULIET, "-p", CFG["password"], "--timeout", "10"]
    if tls:
        args += ["-t", "-j", "%s:%d" % (CFG["tls_host"], CFG["tls_port"])]
    else:
        args += ["-j", "%s:%d" % (CFG["host"], CFG["port"])]
    args.append(ROMEO)
    env = dict(os.environ, HOME=CFG["home"])
    proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, env=env)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(body.encode() + b"\n"), 20)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise Failure("go-sendxmpp still running after 20 s")
    check(proc.returncode == 0, "go-sendxmpp exited %d: %s" % (proc.returncode, out.decode(errors="replace")))
    got = await r.messages.get("from go-sendxmpp", lambda s: s["body"].strip() == body)
    check(got["from"].bare == JULIET and got["from"].resource, "from %s, want a full JID of %s" % (got["from"], JULIET))
    return "go-sendxmpp (exit 0) → romeo/garden received %r from %s (type %s)" % (got["body"], got["from"], got["type"])


SCENARIOS = [
    ("scram-login", scram_login),
    ("direct-tls-login", direct_tls_login),
    ("wrong-password", wrong_password),
    ("two-resources", two_resources),
    ("roster-push", roster_push),
    ("subscription", subscription),
    ("messages", messages),
    ("offline", offline),
    ("carbons", carbons),
    ("blocking", blocking),
    ("blocking-stranger", blocking_stranger),
    ("vcard", vcard),
    ("ping", ping),
    ("go-sendxmpp-tls", lambda: sendxmpp(True)),
    ("go-sendxmpp-starttls", lambda: sendxmpp(False)),
]


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main():
    only = set(CFG.get("only") or [])
    passed = failed = skipped = 0
    for name, fn in SCENARIOS:
        if only and name not in only:
            continue
        TRACE.clear()
        start = time.monotonic()
        result, err = None, None
        try:
            result = await asyncio.wait_for(fn(), 30)
        except Failure as e:
            err = str(e)
        except (IqError,) as e:
            err = "IQ error: %s" % e.iq
        except IqTimeout as e:
            err = "IQ timeout: %s" % e.iq
        except asyncio.TimeoutError:
            err = "scenario still running after 30 s"
        except Exception:
            err = "exception:\n" + traceback.format_exc()
        try:
            await close_all()
        except Exception as e:  # a stream that would not close
            err = (err + "; " if err else "") + "closing the streams: %r" % e
        took = time.monotonic() - start
        if err is not None:
            failed += 1
            emit("FAIL %s (%.2fs): %s" % (name, took, err.replace("\n", "\n  ")))
            for line in TRACE[-80:]:
                emit("  " + line)
        elif result is None:
            skipped += 1
            emit("SKIP %s (%.2fs): go-sendxmpp not given" % (name, took))
        else:
            passed += 1
            emit("PASS %s (%.2fs): %s" % (name, took, result))
        if CFG.get("verbose") and err is None:
            for line in TRACE:
                emit("  " + line)
    emit("DONE %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return failed == 0


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(main()) else 1)
