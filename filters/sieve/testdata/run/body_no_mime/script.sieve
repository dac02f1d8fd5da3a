require ["body", "fileinto", "variables"];
if body :matches "*lunch on *day?*" { fileinto "${2}-${3}"; }
