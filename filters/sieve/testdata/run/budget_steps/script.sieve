require ["variables"];
set "a" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
set "a" "${a}${a}${a}${a}${a}${a}${a}${a}";
set "a" "${a}${a}${a}${a}${a}${a}${a}${a}";
if allof(string :matches "${a}" "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a",
         string :matches "${a}" "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a",
         string :matches "${a}" "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a") { discard; }
