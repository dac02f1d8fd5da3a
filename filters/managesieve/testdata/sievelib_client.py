"""Drives the ManageSieve server with python3-sievelib (sievelib.managesieve).

Usage: sievelib_client.py HOST PORT USER PASSWORD

Connects, upgrades with STARTTLS, authenticates with PLAIN and runs every
command sievelib has; prints what it saw as one JSON object for
interop_test.go to check.
"""

import json
import sys
import warnings

from sievelib.managesieve import Client

warnings.simplefilter("ignore")  # ssl.wrap_socket is deprecated in 3.11

VACATION = (
    'require ["vacation"];\r\n'
    'vacation :days 3 "I am away";\r\n'
)
MAIN = 'require ["fileinto"];\r\nif header :contains "subject" "sieve" { fileinto "Sieve"; }\r\n'


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    out = {}
    c = Client(host, port)
    out["connect"] = c.connect(user, password, starttls=True, authmech="PLAIN")
    out["implementation"] = c.get_implementation()
    out["sasl"] = c.get_sasl_mechanisms()
    out["sieve"] = c.get_sieve_capabilities()
    out["havespace"] = c.havespace("vacation", len(VACATION))
    out["havespace_big"] = c.havespace("vacation", 10 ** 9)
    out["put_vacation"] = c.putscript("vacation", VACATION)
    out["put_main"] = c.putscript("main", MAIN)
    out["put_bad"] = c.putscript("bad", "bogus;\r\n")
    out["put_bad_error"] = (c.errmsg or b"").decode()
    out["check_good"] = c.checkscript(MAIN)
    out["setactive"] = c.setactive("vacation")
    active, others = c.listscripts()
    out["list_active"], out["list_others"] = active, sorted(others)
    out["get_vacation"] = c.getscript("vacation")
    out["delete_active"] = c.deletescript("vacation")
    out["delete_active_code"] = (c.errcode or b"").decode()
    out["rename"] = c.renamescript("main", "filing")
    out["delete"] = c.deletescript("filing")
    out["get_missing"] = c.getscript("filing")
    out["setactive_none"] = c.setactive("")
    active, others = c.listscripts()
    out["list_after"] = [active, sorted(others)]
    c.logout()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
