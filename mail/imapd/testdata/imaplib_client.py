"""Drive Tidings' IMAP server with Python's standard imaplib (interop test).

Usage: imaplib_client.py HOST PORT USER PASSWORD
Prints one JSON object with what the server answered.
"""
import imaplib
import json
import ssl
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

m = imaplib.IMAP4(host, port, timeout=10)
out["caps_plain"] = sorted(m.capabilities)
m.starttls(ssl_context=ctx)
out["caps_tls"] = sorted(m.capabilities)
typ, _ = m.login(user, password)
out["login"] = typ

typ, data = m.list()
out["list"] = [d.decode() for d in data]

typ, data = m.select("INBOX")
out["select"] = typ
out["exists"] = int(data[0])

typ, data = m.fetch("1", "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
out["fetch"] = typ
out["fetch_meta"] = data[0][0].decode()
out["fetch_subject"] = data[0][1].decode()

typ, data = m.fetch("2", "(RFC822)")
out["rfc822"] = data[0][1].decode()

typ, data = m.store("1", "+FLAGS", "\\Seen")
out["store"] = typ
out["store_resp"] = [d.decode() for d in data if isinstance(d, bytes)]

typ, data = m.search(None, "UNSEEN")
out["unseen"] = data[0].decode()
typ, data = m.search(None, "SEEN")
out["seen"] = data[0].decode()
typ, data = m.uid("SEARCH", None, "FROM", "romeo")
out["uid_from"] = data[0].decode()

typ, _ = m.close()
out["close"] = typ
typ, _ = m.logout()
out["logout"] = typ

print(json.dumps(out))
