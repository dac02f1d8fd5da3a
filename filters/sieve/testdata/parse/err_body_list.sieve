require ["body", "extlists"];
if body :list ":addrbook:default" { keep; }
