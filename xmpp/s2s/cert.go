package s2s

import (
	"crypto/x509"
	"encoding/asn1"
	"strings"
)

var (
	oidSAN      = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidXMPPAddr = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5} // RFC 6120 §13.7.1.4
	oidSRVName  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7} // RFC 4985
)

// certValid reports whether the chain verifies against roots and its leaf
// names domain in its subjectAltName (never the CN).
func certValid(roots *x509.CertPool, chain []*x509.Certificate, domain string) bool {
	if len(chain) == 0 || domain == "" {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return false
	}
	return nameMatches(chain[0], domain)
}

// nameMatches checks the SAN identifiers of RFC 6120 §13.7.1.2 and RFC
// 7712: xmppAddr equal to the domain, SRVName _xmpp-server.domain, or a
// dNSName (wildcards in the left-most label allowed). Go's VerifyHostname
// ignores the CN.
func nameMatches(c *x509.Certificate, domain string) bool {
	srv, addrs := otherNames(c)
	for _, a := range addrs {
		if strings.EqualFold(a, domain) {
			return true
		}
	}
	for _, s := range srv {
		if strings.EqualFold(s, "_xmpp-server."+domain) {
			return true
		}
	}
	return len(c.DNSNames) > 0 && c.VerifyHostname(domain) == nil
}

// otherNames returns the SRVName and xmppAddr otherName entries of the
// SAN extension, checking their type OIDs (a UTF8String in some other
// otherName is not an xmppAddr).
func otherNames(c *x509.Certificate) (srvNames, xmppAddrs []string) {
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidSAN) {
			continue
		}
		var seq asn1.RawValue
		if rest, err := asn1.Unmarshal(ext.Value, &seq); err != nil || len(rest) > 0 || seq.Tag != asn1.TagSequence {
			return nil, nil
		}
		b := seq.Bytes
		for len(b) > 0 {
			var gn asn1.RawValue
			var err error
			if b, err = asn1.Unmarshal(b, &gn); err != nil {
				return srvNames, xmppAddrs
			}
			if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 || !gn.IsCompound {
				continue
			}
			var oid asn1.ObjectIdentifier
			rest, err := asn1.Unmarshal(gn.Bytes, &oid)
			if err != nil {
				continue
			}
			var wrap, inner asn1.RawValue
			if _, err := asn1.Unmarshal(rest, &wrap); err != nil || wrap.Class != asn1.ClassContextSpecific || wrap.Tag != 0 {
				continue
			}
			if _, err := asn1.Unmarshal(wrap.Bytes, &inner); err != nil || inner.Class != asn1.ClassUniversal {
				continue
			}
			switch {
			case oid.Equal(oidXMPPAddr) && inner.Tag == asn1.TagUTF8String:
				xmppAddrs = append(xmppAddrs, string(inner.Bytes))
			case oid.Equal(oidSRVName) && inner.Tag == asn1.TagIA5String:
				srvNames = append(srvNames, string(inner.Bytes))
			}
		}
	}
	return srvNames, xmppAddrs
}
