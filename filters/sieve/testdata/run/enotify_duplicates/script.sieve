require ["enotify", "variables"];
set "m" "mailto:a@example.com";
notify "${m}";
notify "mailto:a@example.com";
notify :message "other" "mailto:a@example.com";
notify "${unset}";
notify "tel:+1${unset}";
