# Filters of the Tidings webmail (Filters page), generated from the rules
# in the "# rule:" and "# vacation:" comments, which the webmail reads back.
# A script edited by hand is no longer read back: the rule editor says so
# and does not overwrite it without being asked.
require ["enotify", "extlists"];

# rule: {"name":"Notify me for my contacts","enabled":true,"conditions":[{"field":"contacts","op":"is"}],"actions":[{"kind":"notify","address":"juliet@capulet.example"}]}
if address :list "from" ":addrbook:default" {
    notify "xmpp:juliet@capulet.example";
}
