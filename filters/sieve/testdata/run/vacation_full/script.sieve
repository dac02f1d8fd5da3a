require ["vacation", "variables"];
if header :matches "subject" "*" { set "subj" "${1}"; }
vacation :days 23 :addresses ["tjs@example.edu", "ts4z@landru.example.edu"]
   :subject "Re: ${subj} (away)" :from "Bob <bob@example.com>" :handle "h1"
   "Gone fishin' — back soon.";
