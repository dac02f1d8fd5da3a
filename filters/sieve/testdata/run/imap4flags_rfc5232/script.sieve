# RFC 5232 §6 example, adapted
require ["imap4flags", "fileinto", "variables", "relational", "comparator-i;ascii-numeric"];
if size :over 1 {
    setflag "\\Deleted";
}
if header :contains "from" "alice@example.org" {
    addflag "\\Flagged";
    addflag "MyFlags" "Junk \\seen";
    addflag "MyFlags" "$Label1 \\Seen";
    removeflag "MyFlags" "junk";
}
if hasflag :contains "MyFlags" "Label" { fileinto :flags "${MyFlags}" "Labelled"; }
if hasflag "\\flagged" { fileinto "Flagged"; }
if hasflag :count "eq" :comparator "i;ascii-numeric" "MyFlags" "2" { keep; }
removeflag "\\Deleted";
