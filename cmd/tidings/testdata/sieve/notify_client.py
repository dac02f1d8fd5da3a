#!/usr/bin/python3
"""An XMPP client for cmd/tidings/interop_sieve_test.go that the Go test
drives line by line, to watch Sieve new-mail notifications arrive.

Runs with Debian's python3-slixmpp (1.8.3). The only argument is a JSON
object: host and port (listen.xmpp_client, STARTTLS), jid (bare), password,
resource.

Commands, one per line on standard input:

    login   connect, authenticate, bind, send initial presence, then ping
            the server (so that the presence has been handled when the
            answer comes); prints {"event": "online", ...}
    logout  close the stream and wait until it is closed; prints
            {"event": "offline", ...}
    quit    log out if online and exit (end of input does the same)

Every message stanza the client receives, with or without a body, is
printed as one JSON line: {"event": "message", "type", "from", "to",
"subject", "body", "oob" (the XEP-0066 URL or null), "no_store" (an
XEP-0334 <no-store/> hint), "delay" (an XEP-0203 delay: it was stored
offline), "t"}. Every line carries "t", time.monotonic() when it was
written. A command that fails prints {"event": "error", "command",
"error"}; the script goes on reading commands.
"""

import asyncio
import json
import ssl
import sys
import threading
import time

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

CFG = json.loads(sys.argv[1])

NS_OOB = "jabber:x:oob"
NS_HINTS = "urn:xmpp:hints"
NS_DELAY = "urn:xmpp:delay"

WAIT = 10.0  # longest wait for a login or a logout


def emit(event, **fields):
    fields["event"] = event
    fields["t"] = time.monotonic()
    sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()


class Client(slixmpp.ClientXMPP):
    """One login of the account; prints every message stanza."""

    def __init__(self):
        super().__init__("%s/%s" % (CFG["jid"], CFG["resource"]), CFG["password"])
        # The server's certificate is self-signed for the test hostname.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.register_plugin("xep_0199")
        self.ready = asyncio.Event()
        self.gone = asyncio.Event()
        self.add_event_handler("session_start", lambda _: self.ready.set())
        self.add_event_handler("disconnected", lambda _: self.gone.set())
        # Every message, not only those with a body (slixmpp's "message"
        # event): a stale notice must not slip by unseen.
        self.register_handler(Callback("sieve test: every message",
                                       MatchXPath("{%s}message" % self.default_ns), self._message))

    def _message(self, msg):
        x = msg.xml
        url = x.find("{%s}x/{%s}url" % (NS_OOB, NS_OOB))
        fields = {
            "type": x.get("type", "normal"),
            "from": x.get("from", ""),
            "to": x.get("to", ""),
            "subject": msg["subject"],
            "body": msg["body"],
            "oob": url.text if url is not None else None,
            "no_store": x.find("{%s}no-store" % NS_HINTS) is not None,
            "delay": x.find("{%s}delay" % NS_DELAY) is not None,
        }
        emit("message", **fields)


async def wait_either(a, b, timeout):
    fa, fb = asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())
    await asyncio.wait([fa, fb], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    fa.cancel()
    fb.cancel()


async def login():
    c = Client()
    c.connect((CFG["host"], CFG["port"]))
    await wait_either(c.ready, c.gone, WAIT)
    if not c.ready.is_set():
        c.disconnect(wait=0)
        raise RuntimeError("no session within %.0f s (disconnected: %s)" % (WAIT, c.gone.is_set()))
    c.send_presence()
    # The server handles one stream's stanzas in order: once the ping is
    # answered, the presence above has made the resource available.
    await c.plugin["xep_0199"].send_ping(CFG["jid"].split("@", 1)[1], timeout=WAIT)
    emit("online", jid=str(c.boundjid))
    return c


async def logout(c):
    c.disconnect()
    await asyncio.wait_for(c.gone.wait(), WAIT)
    emit("offline", jid=str(c.boundjid))


def read_commands(loop, queue):
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line.strip())
    loop.call_soon_threadsafe(queue.put_nowait, "quit")


async def main():
    loop = asyncio.get_running_loop()
    commands = asyncio.Queue()
    threading.Thread(target=read_commands, args=(loop, commands), daemon=True).start()
    client = None
    cmd = None
    while cmd != "quit":
        cmd = await commands.get()
        try:
            if cmd == "login" and client is None:
                client = await login()
            elif cmd in ("logout", "quit") and client is not None:
                c, client = client, None
                await logout(c)
            elif cmd and cmd != "quit":
                raise RuntimeError("command not understood in this state (online: %s)" % (client is not None))
        except Exception as e:  # reported to the test, which decides
            emit("error", command=cmd, error="%s: %s" % (type(e).__name__, e))
    emit("bye")


if __name__ == "__main__":
    asyncio.run(main())
