require ["fileinto", "regex"];
