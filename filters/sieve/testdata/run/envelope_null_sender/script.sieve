require ["envelope", "fileinto"];
if envelope :is "from" "" { fileinto "Bounces"; }
if envelope :localpart :is "from" "" { fileinto "Bounces2"; }
