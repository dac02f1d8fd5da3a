require "imap4flags";
setflag "flags" "\\Seen";
