# RFC 5229 §4.1 examples
require ["variables", "fileinto"];
set "honorific"  "Mr";
set "first_name" "Wile";
set "last_name"  "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
set "a" "juMBlEd lETteRS";
set :length "b" "${a}";
set :lower "c" "${a}";
set :upperfirst "d" "${a}";
set :upperfirst :lower "e" "${a}";
set :quotewildcard "f" "*?\\";
set :upper :length "g" "${a}";
fileinto "${b}|${c}|${d}|${e}|${f}|${g}";
fileinto "${vacation}";
fileinto "${unknown}x\${a}${hex:41}";
