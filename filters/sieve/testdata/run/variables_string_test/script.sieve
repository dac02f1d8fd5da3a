require ["variables", "fileinto", "relational", "comparator-i;ascii-numeric"];
set "x" "";
set "y" "val";
if string :count "eq" :comparator "i;ascii-numeric" ["${x}", "${y}", "z"] "2" { fileinto "count2"; }
if string :is "${x}" "" { fileinto "empty"; }
if string :matches "${y}" "v*" { fileinto "m-${1}"; }
