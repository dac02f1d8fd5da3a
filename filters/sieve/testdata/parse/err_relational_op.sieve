require "relational";
if header :value "gtt" "x" "1" { keep; }
