"""Prints, for each Sieve script named on the command line, whether
python3-sievelib's parser accepts it: one JSON object {path: error-or-""}."""
import json
import sys

from sievelib.parser import Parser

out = {}
for path in sys.argv[1:]:
    p = Parser()
    with open(path, "rb") as f:
        data = f.read()
    try:
        ok = p.parse(data)
        err = "" if ok else (getattr(p, "error", None) or "refused")
    except Exception as e:  # sievelib raises on some inputs instead of refusing
        err = "exception: %s" % e
    out[path] = err
print(json.dumps(out))
