require ["fileinto", "imap4flags"];
fileinto :flags "\\Seen" "Work";
fileinto :flags ["\\Flagged", "\\seen"] "Work";
keep :flags "a";
fileinto "inbox";
