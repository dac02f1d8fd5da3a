require ["imap4flags", "variables", "fileinto"];
set "a" "x y";
set "b" "Y z";
if hasflag :is ["a", "b"] "z" { fileinto "z"; }
if hasflag ["a", "b"] "q" { fileinto "never"; }
