require ["body", "fileinto"];
if body :contains "unterminated" { fileinto "Found"; }
