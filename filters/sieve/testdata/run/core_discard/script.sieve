if header :contains "subject" "lunch" { discard; }
