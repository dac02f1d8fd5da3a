# hash comment
REQUIRE "fileinto"; /* inline */ IF Header :Contains "Subject" "x" { FileInto "a"; } # trailing
if header :matches "subject" "\"quoted\" \\back" { keep; }
