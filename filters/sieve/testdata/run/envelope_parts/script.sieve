require ["envelope", "subaddress", "fileinto"];
if envelope :detail "to" "lists" { fileinto "Lists"; }
if envelope :user "to" "bob" { fileinto "Bob"; }
if envelope :domain :is "from" "EXAMPLE.ORG" { fileinto "Org"; }
