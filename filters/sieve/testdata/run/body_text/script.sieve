require ["body", "fileinto"];
if body :text :contains "MAKE MONEY" { fileinto "Spam"; }
if body :content "text/html" :contains "<b>" { fileinto "Html"; }
if body :raw :contains "base64" { fileinto "Raw"; }
if body :content "image" :contains "" { fileinto "HasImage"; }
