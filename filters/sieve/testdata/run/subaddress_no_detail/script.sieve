require ["envelope", "subaddress", "fileinto"];
if envelope :detail :matches "to" "*" { fileinto "HasDetail"; }
if envelope :detail :is "to" "" { fileinto "EmptyDetail"; }
