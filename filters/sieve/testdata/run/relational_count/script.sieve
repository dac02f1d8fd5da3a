require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["3"] { fileinto "many"; }
if header :value "gt" :comparator "i;ascii-numeric" "x-priority" "2" { fileinto "low"; }
if header :value "lt" "subject" "M" { fileinto "a-to-l"; }
