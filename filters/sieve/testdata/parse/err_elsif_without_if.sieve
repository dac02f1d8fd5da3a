keep;
if true { keep; }
discard;
    elsif false { stop; }
