-- Prosody for cmd/tidings/interop_s2s_test.go: hosts montague.example on a
-- loopback address of its own, with its data, pid and log in the test's
-- temporary directory. The test fills in the placeholders (NAME between double at-signs).

pidfile = "@@DIR@@/prosody.pid"
data_path = "@@DIR@@/data"
admin_socket = "@@DIR@@/prosody.sock"
log = {
	{ levels = { min = "debug" }, to = "file", filename = "@@DIR@@/prosody.log" };
	{ levels = { min = "error" }, to = "console" };
}

interfaces = { "@@IP@@" }
local_interfaces = { "@@IP@@" }
c2s_ports = { @@C2S_PORT@@ }
s2s_ports = { @@S2S_PORT@@ }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
component_ports = { }

-- Names resolve through the test's DNS server only (libunbound forwarder),
-- never /etc/hosts or /etc/resolv.conf.
unbound = { forward = { "@@DNS@@" }, resolvconf = false, hoststxt = false }

modules_enabled = { "roster", "saslauth", "tls", "dialback", "s2s_bidi", "disco", "ping" }
authentication = "internal_hashed"
storage = "internal"
allow_registration = false

c2s_require_encryption = true
s2s_require_encryption = true
-- Self-signed mode: invalid peer certificates fall back to dialback.
-- CA mode: only certificates valid for the peer's domain (SASL EXTERNAL).
s2s_secure_auth = @@SECURE_AUTH@@
ssl = {
	certificate = "@@DIR@@/montague.crt";
	key = "@@DIR@@/montague.key";
	cafile = "@@CAFILE@@";
}

VirtualHost "montague.example"
