if header :contains "subject" "viagra" { discard; }
