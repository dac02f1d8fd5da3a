require ["fileinto", "mailbox"];
if mailboxexists "Spam" { fileinto "Spam"; }
if not mailboxexists ["Spam", "Nope"] { fileinto :create "Nope"; }
