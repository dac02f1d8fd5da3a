#!/usr/bin/python3
"""The Juliet-and-Romeo federation scenario for cmd/tidings/interop_s2s_test.go.

juliet logs in to Tidings (capulet.example), romeo to the other server
(montague.example), both with slixmpp (Debian python3-slixmpp) over STARTTLS.
They subscribe to each other (RFC 6121 §3.1), end with subscription both,
see each other's presence and exchange messages both ways: every stanza
crosses the federation link between the two servers.

The only argument is a JSON object: juliet and romeo (bare JIDs), their
hosts and ports (juliet_host, juliet_port, romeo_host, romeo_port),
password, and romeo_first (romeo writes to juliet before anything else, so
that the link is opened from romeo's side). Prints "PASS <what was observed>" or "FAIL <what went wrong>"
followed by every stanza the clients sent (->) and received (<-).
Exit status 0 on PASS.
"""

import asyncio
import json
import ssl
import sys
import time
import traceback

import slixmpp

CFG = json.loads(sys.argv[1])
JULIET, ROMEO = CFG["juliet"], CFG["romeo"]
WAIT = 15.0  # the first stanza to a domain waits for the s2s link

TRACE = []
T0 = time.monotonic()


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Client(slixmpp.ClientXMPP):
    def __init__(self, bare, resource):
        super().__init__("%s/%s" % (bare, resource), CFG["password"])
        self.label = bare.split("@")[0]
        # Both servers' certificates are the test's own.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.auto_authorize = None
        self.auto_subscribe = False
        self.stanzas = []
        self.ready = asyncio.Event()
        self.gone = asyncio.Event()
        self.add_filter("in", self._in)
        self.add_filter("out", self._out)
        self.add_event_handler("session_start", lambda _: self.ready.set())
        self.add_event_handler("disconnected", lambda _: self.gone.set())
        self.add_event_handler("message", self.stanzas.append)
        self.add_event_handler("presence", self.stanzas.append)
        self.add_event_handler("roster_update", lambda iq: iq["type"] == "set" and self.stanzas.append(iq))

    def _in(self, s):
        TRACE.append("%7.3f %s <- %s" % (time.monotonic() - T0, self.label, s))
        return s

    def _out(self, s):
        TRACE.append("%7.3f %s -> %s" % (time.monotonic() - T0, self.label, s))
        return s

    async def get(self, what, pred):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for i, s in enumerate(self.stanzas):
                if pred(s):
                    del self.stanzas[i]
                    return s
            await asyncio.sleep(0.02)
        raise Failure("%s: no %s within %.0f s" % (self.label, what, WAIT))


def presence(frm, ptype, status=None):
    def pred(s):
        if s.name != "presence" or (str(s["from"]) != frm and s["from"].bare != frm):
            return False
        return s["type"] == ptype and (status is None or s["status"] == status)
    return pred


def push(jid, subscription, ask=None):
    def pred(s):
        if s.name != "iq":
            return False
        for k, v in s["roster"]["items"].items():
            if str(k) == jid and v["subscription"] == subscription and (ask is None or v["ask"] == ask):
                return True
        return False
    return pred


def message(frm, body):
    return lambda s: s.name == "message" and s["from"].bare == frm and s["body"] == body and s["type"] in ("chat", "normal")


async def roster_of(c, jid):
    iq = c.Iq()
    iq["type"] = "get"
    iq.enable("roster")
    got = await iq.send(timeout=WAIT)
    for k, v in got["roster"]["items"].items():
        if str(k) == jid:
            return v["subscription"], v["ask"]
    return None


async def login(bare, host, port, status):
    c = Client(bare, "balcony" if bare == JULIET else "orchard")
    c.connect((host, port))
    done, _ = await asyncio.wait([asyncio.ensure_future(c.ready.wait()), asyncio.ensure_future(c.gone.wait())],
                                 timeout=10, return_when=asyncio.FIRST_COMPLETED)
    check(c.ready.is_set(), "%s: no session on %s:%d within 10 s" % (c.label, host, port))
    await c.get_roster(timeout=WAIT)
    c.send_presence(pstatus=status)
    return c


async def scenario():
    j = await login(JULIET, CFG["juliet_host"], CFG["juliet_port"], "On the balcony")
    r = await login(ROMEO, CFG["romeo_host"], CFG["romeo_port"], "In the orchard")
    steps = []
    try:
        if CFG.get("romeo_first"):
            # 0. romeo writes first, so montague.example opens the link.
            r.send_message(mto=JULIET + "/balcony", mbody="Is she awake?", mtype="chat")
            await j.get("romeo's first message", message(ROMEO, "Is she awake?"))
            steps.append("romeo wrote first")
        # 1. juliet asks romeo (across: capulet.example → montague.example).
        j.send_presence(pto=ROMEO, ptype="subscribe")
        await j.get("roster push romeo none/ask", push(ROMEO, "none", "subscribe"))
        await r.get("subscribe from juliet", presence(JULIET, "subscribe"))
        # 2. romeo approves.
        r.send_presence(pto=JULIET, ptype="subscribed")
        await j.get("subscribed from romeo", presence(ROMEO, "subscribed"))
        await j.get("roster push romeo to", push(ROMEO, "to"))
        await j.get("romeo's presence after approval", presence(ROMEO + "/orchard", "available", "In the orchard"))
        steps.append("juliet subscribed to romeo")
        # 3. romeo asks juliet (montague.example → capulet.example).
        r.send_presence(pto=JULIET, ptype="subscribe")
        await j.get("subscribe from romeo", presence(ROMEO, "subscribe"))
        # 4. juliet approves.
        j.send_presence(pto=ROMEO, ptype="subscribed")
        await r.get("subscribed from juliet", presence(JULIET, "subscribed"))
        await r.get("roster push juliet both", push(JULIET, "both"))
        await j.get("roster push romeo both", push(ROMEO, "both"))
        await r.get("juliet's presence after approval", presence(JULIET + "/balcony", "available", "On the balcony"))
        steps.append("romeo subscribed to juliet")
        for c, other in ((j, ROMEO), (r, JULIET)):
            got = await roster_of(c, other)
            check(got is not None and got[0] == "both" and not got[1],
                  "%s's roster: %s is %s, want (both, no ask)" % (c.label, other, got))
        steps.append("both rosters say both")

        # Presence changes cross both ways.
        r.send_presence(pshow="away", pstatus="Beneath the window")
        await j.get("romeo away", presence(ROMEO + "/orchard", "away", "Beneath the window"))
        j.send_presence(pshow="dnd", pstatus="Wherefore art thou")
        await r.get("juliet dnd", presence(JULIET + "/balcony", "dnd", "Wherefore art thou"))
        steps.append("presence seen both ways")

        # Messages both ways, to the bare and to the full JID.
        j.send_message(mto=ROMEO, mbody="O Romeo, Romeo! wherefore art thou Romeo?", mtype="chat")
        await r.get("juliet's message", message(JULIET, "O Romeo, Romeo! wherefore art thou Romeo?"))
        r.send_message(mto=JULIET + "/balcony", mbody="But soft, what light <through> yonder window & breaks?", mtype="chat")
        await j.get("romeo's message", message(ROMEO, "But soft, what light <through> yonder window & breaks?"))
        j.send_message(mto=ROMEO + "/orchard", mbody="Good night, good night!", mtype="normal")
        await r.get("juliet's second message", message(JULIET, "Good night, good night!"))
        steps.append("messages both ways")

        # Going offline is seen across.
        r.send_presence(ptype="unavailable")
        await j.get("romeo unavailable", presence(ROMEO + "/orchard", "unavailable"))
        steps.append("romeo's logout seen")
    finally:
        for c in (j, r):
            c.disconnect()
        await asyncio.wait_for(asyncio.gather(j.gone.wait(), r.gone.wait()), 5)
    return "; ".join(steps)


async def main():
    try:
        out = await asyncio.wait_for(scenario(), 45)
        print("PASS " + out)
        ok = True
    except Failure as e:
        print("FAIL " + str(e))
        ok = False
    except asyncio.TimeoutError:
        print("FAIL the scenario still ran after 45 s")
        ok = False
    except Exception:
        print("FAIL " + traceback.format_exc())
        ok = False
    for line in TRACE:
        print("  " + line)
    return ok


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(main()) else 1)
