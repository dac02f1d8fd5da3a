require ["variables", "fileinto"];
if header :matches "subject" "L?nch *?" { fileinto "a-${1}-${2}-${3}"; }
if header :matches "subject" "*\\?" { fileinto "b-${1}"; }
if header :matches "subject" "lunch" { fileinto "never"; }
if header :matches :comparator "i;octet" "subject" "lunch*" { fileinto "never2"; }
if header :matches "subject" "*" { fileinto "c-${0}"; }
