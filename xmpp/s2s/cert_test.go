package s2s

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

func otherName(t *testing.T, oid asn1.ObjectIdentifier, tag int, value string) []byte {
	inner, err := asn1.Marshal(asn1.RawValue{Tag: tag, Bytes: []byte(value)})
	if err != nil {
		t.Fatal(err)
	}
	explicit, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner})
	o, _ := asn1.Marshal(oid)
	gn, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(o, explicit...)})
	return gn
}

func sanExt(t *testing.T, names ...[]byte) pkix.Extension {
	var b []byte
	for _, n := range names {
		b = append(b, n...)
	}
	seq, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: b})
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oidSAN, Value: seq}
}

// Names come from the SAN only, with their type OIDs checked; the CN
// never counts. Each certificate is issued by a private CA and verified.
func TestCertificateNames(t *testing.T) {
	authority := newCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(authority.cert)
	upn := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}
	for _, tc := range []struct {
		name string
		tmpl *x509.Certificate
		want map[string]bool
	}{
		{"CN only", &x509.Certificate{Subject: pkix.Name{CommonName: "capulet.test"}}, map[string]bool{"capulet.test": false}},
		{"dNSName", &x509.Certificate{DNSNames: []string{"capulet.test"}}, map[string]bool{"capulet.test": true, "montague.test": false}},
		{"wildcard dNSName", &x509.Certificate{DNSNames: []string{"*.capulet.test"}}, map[string]bool{"chat.capulet.test": true, "capulet.test": false}},
		{"xmppAddr", &x509.Certificate{ExtraExtensions: []pkix.Extension{sanExt(t, otherName(t, oidXMPPAddr, asn1.TagUTF8String, "capulet.test"))}},
			map[string]bool{"capulet.test": true, "montague.test": false}},
		{"SRVName", &x509.Certificate{ExtraExtensions: []pkix.Extension{sanExt(t, otherName(t, oidSRVName, asn1.TagIA5String, "_xmpp-server.capulet.test"))}},
			map[string]bool{"capulet.test": true, "montague.test": false}},
		{"SRVName for clients", &x509.Certificate{ExtraExtensions: []pkix.Extension{sanExt(t, otherName(t, oidSRVName, asn1.TagIA5String, "_xmpp-client.capulet.test"))}},
			map[string]bool{"capulet.test": false}},
		{"UPN is not xmppAddr", &x509.Certificate{ExtraExtensions: []pkix.Extension{sanExt(t, otherName(t, upn, asn1.TagUTF8String, "capulet.test"))}},
			map[string]bool{"capulet.test": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := authority.leaf(t, "", tc.tmpl)
			cert, err := x509.ParseCertificate(conf.Certificates[0].Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			for domain, want := range tc.want {
				if got := certValid(roots, []*x509.Certificate{cert}, domain); got != want {
					t.Errorf("certValid(%s) = %v, want %v", domain, got, want)
				}
			}
			if certValid(x509.NewCertPool(), []*x509.Certificate{cert}, "capulet.test") {
				t.Error("valid without its CA")
			}
		})
	}
}
