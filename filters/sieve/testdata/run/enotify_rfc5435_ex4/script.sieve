# RFC 5435 §9 example 4 (mailto for tel)
require ["enotify"];

if notify_method_capability
     "xmpp:tim@example.com?message;subject=SIEVE"
     "Online"
     "yes" {
    notify :importance "1" :message "You got mail"
     "xmpp:tim@example.com?message;subject=SIEVE";
} else {
    notify :message "You got mail" "mailto:tim@example.com";
}
