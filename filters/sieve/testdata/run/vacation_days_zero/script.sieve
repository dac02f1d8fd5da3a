require ["vacation"];
vacation :days 0 :mime text:
Content-Type: text/plain; charset=us-ascii

I am away.
.
;
