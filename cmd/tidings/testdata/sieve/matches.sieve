# 64 :matches keys, none of which matches, over the body of about 200 KB
# that interop_sieve_test.go sends: every key scans the whole body, 64 x
# 200 KB = 12.8 MB in all, far past the engine's step budget (one step per
# 64 bytes scanned, 100,000 steps) or its 200 ms. The run fails and
# delivery keeps the message in INBOX (RFC 5228 §2.10.6); were a key to
# match, the message would be discarded and the test would notice.
require "body";
if body :raw :matches [
    "*a*b00*", "*a*b01*", "*a*b02*", "*a*b03*", "*a*b04*", "*a*b05*", "*a*b06*", "*a*b07*",
    "*a*b08*", "*a*b09*", "*a*b10*", "*a*b11*", "*a*b12*", "*a*b13*", "*a*b14*", "*a*b15*",
    "*a*b16*", "*a*b17*", "*a*b18*", "*a*b19*", "*a*b20*", "*a*b21*", "*a*b22*", "*a*b23*",
    "*a*b24*", "*a*b25*", "*a*b26*", "*a*b27*", "*a*b28*", "*a*b29*", "*a*b30*", "*a*b31*",
    "*a*b32*", "*a*b33*", "*a*b34*", "*a*b35*", "*a*b36*", "*a*b37*", "*a*b38*", "*a*b39*",
    "*a*b40*", "*a*b41*", "*a*b42*", "*a*b43*", "*a*b44*", "*a*b45*", "*a*b46*", "*a*b47*",
    "*a*b48*", "*a*b49*", "*a*b50*", "*a*b51*", "*a*b52*", "*a*b53*", "*a*b54*", "*a*b55*",
    "*a*b56*", "*a*b57*", "*a*b58*", "*a*b59*", "*a*b60*", "*a*b61*", "*a*b62*", "*a*b63*"
] {
    discard;
}
