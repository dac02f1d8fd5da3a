if header "bad name:" "x" { keep; }
