if header :list "from" ":addrbook:default" { keep; }
