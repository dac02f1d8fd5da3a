require "extlists";
redirect :list ":addrbook:default";
