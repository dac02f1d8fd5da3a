if header "a" "b
