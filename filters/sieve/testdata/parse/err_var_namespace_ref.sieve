require ["variables", "fileinto"];
fileinto "${env.foo}";
