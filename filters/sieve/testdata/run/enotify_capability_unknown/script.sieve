require ["enotify", "fileinto"];
if notify_method_capability "xmpp:tim@example.com" "online" "maybe" { fileinto "maybe"; }
if notify_method_capability "xmpp:tim@example.com" "frobnicate" "maybe" { fileinto "never"; }
if valid_notify_method ["mailto:a@example.com", "xmpp:b@example.com"] { fileinto "valid"; }
if valid_notify_method "tel:+1" { fileinto "never2"; }
