require "fileinto";
filinto "x";
