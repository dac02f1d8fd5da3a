require ["fileinto","vacation","imap4flags","copy","envelope","body"];
# rule:[spam]
if header :contains "x-spam-flag" "YES"
{
	fileinto "Junk";
	stop;
}
# rule:[family]
if anyof (address :is "from" "mother@capulet.example", address :domain :is "from" "capulet.example")
{
	addflag "\\Flagged";
	fileinto :copy "Family";
}
# rule:[big]
if size :over 5M
{
	fileinto "Large";
}
# rule:[body]
if body :text :contains "unsubscribe"
{
	setflag "\\Seen";
}
# rule:[vacation]
if true
{
	vacation :days 7 :addresses ["juliet@capulet.example"] :subject "Away" "I am in Mantua.";
}
