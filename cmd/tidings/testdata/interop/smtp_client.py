#!/usr/bin/env python3
"""SMTP client side of TestInteropSMTPPython (cmd/tidings/interop_smtp_test.go).

Talks to a running `tidings serve` with Python's own smtplib and email
packages (standard library only) and prints what happened as one JSON object
on stdout. Checks that only this side can see (the exception smtplib raises,
the features it parsed) are made here too: their failures are listed in
"failures", and the exit status is then 1. The Go test checks the store.

Usage: smtp_client.py CONFIG_JSON, with the keys submission_host,
submission, submissions_host, submissions (ports), juliet, romeo
(addresses), password, utf8_subject, body, ssl_subject.
"""

import json
import smtplib
import ssl
import sys
from email.message import EmailMessage

cfg = json.loads(sys.argv[1])
out = {"failures": []}


def check(ok, what):
    if not ok:
        out["failures"].append(what)


def tls_context():
    # The server's certificate is self-signed: encryption without
    # verification, as in a first test of a fresh installation.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def message(sender, to, subject, body):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m.set_content(body)
    return m


def refusal(fn):
    """Runs fn, which must be refused; returns what smtplib raised."""
    try:
        fn()
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
        return {"exception": type(e).__name__, "code": e.smtp_code,
                "message": e.smtp_error.decode("utf-8", "replace")}
    except smtplib.SMTPException as e:
        return {"exception": type(e).__name__, "code": 0, "message": str(e)}
    return {"exception": None, "code": 250, "message": "accepted"}


def run():
    # Submission (587): EHLO, STARTTLS, EHLO, AUTH (smtplib chooses the
    # mechanism from those offered), a UTF-8 subject.
    with smtplib.SMTP(cfg["submission_host"], int(cfg["submission"]), local_hostname="python.example", timeout=10) as s:
        s.ehlo()
        out["starttls_offered"] = s.has_extn("starttls")
        out["auth_before_tls"] = s.has_extn("auth")
        check(out["starttls_offered"], "STARTTLS not offered on submission")
        check(not out["auth_before_tls"], "AUTH offered before STARTTLS")
        s.starttls(context=tls_context())
        s.ehlo()
        out["auth_mechanisms"] = s.esmtp_features.get("auth", "")
        code, _ = s.login(cfg["juliet"], cfg["password"])
        out["login_code"] = code
        check(code == 235, "login answered %d, want 235" % code)

        refused = s.send_message(message(cfg["juliet"], cfg["romeo"], cfg["utf8_subject"], cfg["body"]))
        out["utf8_refused"] = {k: [v[0], v[1].decode("utf-8", "replace")] for k, v in refused.items()}
        check(not refused, "recipients refused: %r" % refused)

        # Another user's address in From: refused at the end of DATA
        # (SMTPDataError) with 553. The envelope is juliet's own.
        out["forged_from"] = refusal(lambda: s.send_message(
            message(cfg["romeo"], cfg["romeo"], "forged From", "not from juliet\n"),
            from_addr=cfg["juliet"]))
        check(out["forged_from"]["exception"] in ("SMTPSenderRefused", "SMTPDataError")
              and out["forged_from"]["code"] == 553,
              "forged From: %r, want SMTPSenderRefused or SMTPDataError with 553" % out["forged_from"])
        s.rset()

        # Another user's address in the envelope: refused at MAIL FROM.
        out["forged_envelope"] = refusal(lambda: s.send_message(
            message(cfg["romeo"], cfg["romeo"], "forged envelope", "not from juliet\n")))
        check(out["forged_envelope"]["exception"] == "SMTPSenderRefused" and out["forged_envelope"]["code"] == 553,
              "forged envelope: %r, want SMTPSenderRefused 553" % out["forged_envelope"])

    # Submissions (465): TLS from the first byte, AUTH LOGIN forced (with
    # smtplib's initial response), romeo to juliet.
    with smtplib.SMTP_SSL(cfg["submissions_host"], int(cfg["submissions"]), local_hostname="python.example", timeout=10,
                          context=tls_context()) as s:
        s.ehlo()
        s.user, s.password = cfg["romeo"], cfg["password"]
        code, _ = s.auth("LOGIN", s.auth_login)
        out["ssl_login_code"] = code
        check(code == 235, "AUTH LOGIN over implicit TLS answered %d, want 235" % code)
        refused = s.send_message(message(cfg["romeo"], cfg["juliet"], cfg["ssl_subject"], cfg["body"]))
        check(not refused, "recipients refused over implicit TLS: %r" % refused)


try:
    run()
except Exception as e:  # report, do not just die: the Go test prints the JSON
    out["failures"].append("%s: %s" % (type(e).__name__, e))
print(json.dumps(out))
sys.exit(1 if out["failures"] else 0)
