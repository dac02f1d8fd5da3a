require ["enotify","extlists"]; if address :list "from" ":addrbook:default" { notify "xmpp:juliet@capulet.example"; }
