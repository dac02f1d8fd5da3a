# RFC 5437 example
require ["enotify", "variables"];
if header :contains "from" "alice@example.org" {
    if header :matches "Subject" "*" { set "subject" "${1}"; }
    notify :importance "1" :from "bob@example.com"
        :message "${subject}"
        "xmpp:romeo@im.example.com?message;subject=SIEVE";
}
notify :options ["x=1"] "xmpp:romeo@im.example.com";
