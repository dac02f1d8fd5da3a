if header :count "eq" "x" "1" { keep; }
