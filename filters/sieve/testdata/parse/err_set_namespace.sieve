require "variables";
set "env.x" "y";
