if header "a" "ÿ" { keep; }
