require ["fileinto", "reject", "envelope", "variables", "subaddress"];
if envelope :is "to" "juliet+lists@capulet.example" {
    fileinto "Lists";
} elsif header :matches "Subject" "[*] *" {
    set "list" "${1}";
    fileinto "Lists";
} elsif not exists "Date" {
    reject "Your mail has no Date header.";
} else {
    keep;
}
