require ["imap4flags"];
addflag ["\\Seen", "bogus\\flag", "$Work"];
addflag "\\Recent";
