# RFC 6134 §3 example 1, without spamtest
require ["envelope", "extlists", "fileinto"];
if envelope :list "from" ":addrbook:default" {
    fileinto "Known";
} elsif address :list "from" "tag:example.com,2010-05-28:mylist" {
    fileinto "MyList";
} else {
    fileinto "Unknown";
}
