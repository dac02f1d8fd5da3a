require "vacation"; vacation :days 1 :subject "Away" "I am in Mantua.";
