if header "a" :is "b" { keep; }
