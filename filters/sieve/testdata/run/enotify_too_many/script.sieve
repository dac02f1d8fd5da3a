require ["enotify"];
notify "mailto:a1@example.com";
notify "mailto:a2@example.com";
notify "mailto:a3@example.com";
notify "mailto:a4@example.com";
notify "mailto:a5@example.com";
