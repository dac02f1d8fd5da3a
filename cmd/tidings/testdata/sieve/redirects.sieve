# Six redirects: two more than filters.max_redirects (4). The run fails at
# the fifth, and delivery keeps the message in INBOX (RFC 5228 §2.10.6).
redirect "mercutio+1@capulet.example";
redirect "mercutio+2@capulet.example";
redirect "mercutio+3@capulet.example";
redirect "mercutio+4@capulet.example";
redirect "mercutio+5@capulet.example";
redirect "mercutio+6@capulet.example";
