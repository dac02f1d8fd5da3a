if false { keep; } else true { discard; }
