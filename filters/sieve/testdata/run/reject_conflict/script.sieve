require ["reject", "fileinto"];
fileinto "Saved";
reject "no";
