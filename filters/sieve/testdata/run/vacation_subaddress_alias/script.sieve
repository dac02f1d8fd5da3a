require ["vacation"];
vacation :addresses "robert@example.com" "away";
