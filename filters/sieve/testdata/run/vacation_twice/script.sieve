require ["vacation"];
vacation "away";
vacation :handle "other" "away again";
