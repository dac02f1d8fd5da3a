require "enotify";
notify "xmpp:@example.com";
