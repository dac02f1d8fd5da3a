if header [] "x" { keep; }
