#!/usr/bin/env python3
"""Remote MTA of TestInteropOutbound (cmd/tidings/interop_outbound_test.go).

A real third-party SMTP server, aiosmtpd (Debian package python3-aiosmtpd),
that Tidings' outbound queue delivers to. It offers STARTTLS with the
certificate it is given, refuses the recipients listed in "refuse" with
550 5.1.1 at RCPT, and writes every message it accepts as one JSON file
(envelope, HELO name, whether the session was in TLS, the content in base64)
into "outdir", atomically (temporary file, then rename).

Usage: smtp_peer.py CONFIG_JSON, with the keys host, port (0: any free
port), hostname (the name in the greeting), cert, key (PEM files), outdir,
refuse (list of addresses). Once listening it prints {"port": N} on stdout.
It runs until it is killed.
"""

import asyncio
import base64
import json
import logging
import os
import socket
import ssl
import sys

from aiosmtpd.smtp import SMTP

cfg = json.loads(sys.argv[1])
refuse = {a.lower() for a in cfg.get("refuse", [])}


class Handler:
    def __init__(self):
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in refuse:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        ssl_object = server.transport.get_extra_info("ssl_object")
        record = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "helo": session.host_name,
            "peer": session.peer[0] if session.peer else None,
            "tls": session.ssl is not None,
            "tls_version": ssl_object.version() if ssl_object is not None else None,
            "content": base64.b64encode(envelope.original_content).decode("ascii"),
        }
        name = os.path.join(cfg["outdir"], "msg-%d-%d.json" % (os.getpid(), self.count))
        with open(name + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(name + ".tmp", name)
        return "250 2.0.0 Ok: queued as %d" % self.count


async def main():
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cfg["cert"], cfg["key"])
    loop = asyncio.get_running_loop()
    sock = socket.create_server((cfg["host"], cfg["port"]))
    handler = Handler()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname=cfg["hostname"], tls_context=tls,
                     require_starttls=False, loop=loop),
        sock=sock)
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    await server.serve_forever()


logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
asyncio.run(main())
