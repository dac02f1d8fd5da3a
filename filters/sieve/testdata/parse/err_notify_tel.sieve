require "enotify";
notify "tel:+14085551212";
