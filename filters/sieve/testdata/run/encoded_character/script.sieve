require ["encoded-character", "fileinto"];
if header :contains "subject" "${hex:4C 75}nch" { fileinto "${unicode:263a} ${hex:zz}"; }
