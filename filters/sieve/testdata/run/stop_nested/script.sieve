require "fileinto";
if true {
  if true { fileinto "A"; stop; }
  fileinto "B";
}
fileinto "C";
