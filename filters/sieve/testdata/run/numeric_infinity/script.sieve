require ["comparator-i;ascii-numeric", "fileinto"];
if header :is :comparator "i;ascii-numeric" "x-a" "abc" { fileinto "both-infinite"; }
if header :is :comparator "i;ascii-numeric" "x-b" "7" { fileinto "seven"; }
