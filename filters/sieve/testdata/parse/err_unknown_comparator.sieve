if header :comparator "i;foo" "a" "b" { keep; }
