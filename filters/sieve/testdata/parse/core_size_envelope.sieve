require "envelope";
if size :over 100K { discard; }
if envelope :localpart :is "from" "owner" { stop; }
if exists ["X-Spam", "X-Virus"] { redirect "abuse@example.com"; }
/* a bracketed
   comment */
if true { keep; }
