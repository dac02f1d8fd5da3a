if header :foo "a" "b" { keep; }
