require ["fileinto", "envelope", "encoded-character", "comparator-i;ascii-numeric",
         "mailbox", "imap4flags", "body", "variables", "copy", "relational",
         "subaddress", "vacation", "vacation-seconds", "enotify", "extlists"];
if envelope :user :is "to" "bob" { setflag "seen" "\\Seen"; }
if allof (address :detail "to" "lists", header :count "ge" :comparator "i;ascii-numeric" "received" "3") {
  fileinto :create :copy :flags ["\\Flagged", "$Work"] "Lists.${hex:41}";
}
if body :content ["text/plain", "text"] :matches "*buy ${unicode:263A}*" { addflag "Junk"; }
if hasflag :is "seen" "\\seen" { removeflag "seen" "\\Seen"; }
if string :value "lt" :comparator "i;ascii-numeric" "${1}" "10" { keep :flags "x"; }
if anyof (mailboxexists "Spam", valid_ext_list ":addrbook:default",
          valid_notify_method "xmpp:a@example.com",
          notify_method_capability :is "mailto:a@example.com" "online" ["yes", "maybe"]) { stop; }
set :lower :upperfirst :quotewildcard :encodeurl :length "v" "x";
if header :list "from" ":addrbook:default" {
  notify :from "bob@example.com" :importance "1" :options ["k=v"] :message "m" "mailto:bob@example.com?subject=hi";
}
vacation :seconds 60 :subject "s" :from "bob@example.com" :addresses "b@example.com" :mime :handle "h" "r";
