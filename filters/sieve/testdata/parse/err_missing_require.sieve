if true {
fileinto "x";
}
