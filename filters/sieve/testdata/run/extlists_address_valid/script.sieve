require ["extlists", "fileinto", "variables"];
if address :list "from" ":addrbook:default" { fileinto "Known"; }
if valid_ext_list ":addrbook:default" { fileinto "ValidDefault"; }
if valid_ext_list [":addrbook:default", ":addrbook:nope"] { fileinto "never"; }
set "l" ":addrbook:default";
if string :list "alice@example.org" "${l}" { fileinto "StringList"; }
