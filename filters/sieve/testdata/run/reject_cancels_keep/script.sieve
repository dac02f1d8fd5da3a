require "reject";
if header :contains "subject" "lunch" { reject "I do not eat lunch."; }
