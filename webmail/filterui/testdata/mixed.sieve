# Filters of the Tidings webmail (Filters page), generated from the rules
# in the "# rule:" and "# vacation:" comments, which the webmail reads back.
# A script edited by hand is no longer read back: the rule editor says so
# and does not overwrite it without being asked.
require ["copy", "extlists", "fileinto", "imap4flags", "vacation"];

# vacation: {"enabled":true,"subject":"Away","message":"I am in Mantua until Monday.\n\"Parting is such sweet sorrow.\"","days":3,"contacts_only":true}
if address :list "from" ":addrbook:default" {
    vacation :days 3 :subject "Away" "I am in Mantua until Monday.
\"Parting is such sweet sorrow.\"";
}

# rule: {"name":"Lists","enabled":true,"any":true,"conditions":[{"field":"header","header":"List-Id","op":"contains","value":"verona"},{"field":"subject","op":"contains","value":"[verona\\news]"}],"actions":[{"kind":"read"},{"kind":"fileinto","folder":"Lists/Verona"},{"kind":"stop"}]}
if anyof (header :contains "List-Id" "verona",
        header :contains "subject" "[verona\\news]") {
    addflag "\\Seen";
    fileinto "Lists/Verona";
    stop;
}

# rule: {"name":"Tybalt","enabled":true,"conditions":[{"field":"from","op":"is","value":"tybalt@capulet.example"}],"actions":[{"kind":"discard"}]}
if address :is "from" "tybalt@capulet.example" {
    discard;
}

# rule: {"name":"Boss","enabled":true,"conditions":[{"field":"from","op":"contains","value":"escalus"},{"field":"contacts","op":"not-is"}],"actions":[{"kind":"flag"},{"kind":"redirect","address":"romeo@montague.example","copy":true}]}
if allof (header :contains "from" "escalus",
        not address :list "from" ":addrbook:default") {
    addflag "\\Flagged";
    redirect :copy "romeo@montague.example";
}

# rule: {"name":"Old","enabled":false,"actions":[{"kind":"discard"}]}
