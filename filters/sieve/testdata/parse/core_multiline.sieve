require "reject";
reject text:
Your message was too big.
..and this line starts with a dot.
.
;
