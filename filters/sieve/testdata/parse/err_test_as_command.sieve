header "a" "b";
