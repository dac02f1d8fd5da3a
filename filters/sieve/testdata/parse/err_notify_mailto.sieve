require "enotify";
notify :message "x" "mailto:?subject=no-recipient";
