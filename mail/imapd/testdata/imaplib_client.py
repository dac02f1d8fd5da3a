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

# A second session resynchronises with CONDSTORE/QRESYNC (RFC 7162) while
# the first one changes the mailbox, then asks for its quota and says ID.
m2 = imaplib.IMAP4(host, port, timeout=10)
m2.starttls(ssl_context=ctx)
m2.login(user, password)
# imaplib keeps the capabilities it saw before login; ENABLE checks them.
m2.capabilities = tuple(m2.capability()[1][-1].decode().upper().split())
out["caps_auth"] = sorted(m2.capabilities)
m2.enable("QRESYNC")
out["enabled"] = [d.decode() for d in m2.response("ENABLED")[1] if d]
m2.select("INBOX")
uidvalidity = m2.response("UIDVALIDITY")[1][0].decode()
highest = m2.response("HIGHESTMODSEQ")[1][0].decode()
out["highestmodseq"] = highest

m.store("1", "+FLAGS", "\\Flagged")
m.store("2", "+FLAGS", "\\Deleted")
m.expunge()
m2.noop()
out["vanished_live"] = [d.decode() for d in m2.response("VANISHED")[1] if d]
out["fetch_live"] = [d.decode() for d in m2.response("FETCH")[1] if d]
m2.close()

typ, _ = m2._simple_command("SELECT", "INBOX (QRESYNC (%s %s))" % (uidvalidity, highest))
out["qresync_select"] = typ
out["vanished_earlier"] = [d.decode() for d in m2.response("VANISHED")[1] if d]
out["qresync_fetch"] = [d.decode() for d in m2.response("FETCH")[1] if d]

typ, data = m2.getquotaroot("INBOX")
out["quotaroot"] = typ
typ, _ = m2.xatom("ID", '("name" "imaplib")')
out["id"] = [d.decode() for d in m2.response("ID")[1] if d]
m2.logout()

typ, _ = m.close()
out["close"] = typ
typ, _ = m.logout()
out["logout"] = typ

print(json.dumps(out))
