package imapserver

// tidings: this file is not in upstream go-imap. It adds the ID command
// (RFC 2971) and the QUOTA commands (RFC 9208). See FORK.md.

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/imapd/imapserver/internal/imapwire"
)

// SessionID is implemented by sessions of a server that advertises ID.
type SessionID interface {
	Session

	// ID is given what the client said about itself (nil for ID NIL) and
	// returns what the server says about itself (nil for NIL).
	ID(client *imap.IDData) *imap.IDData
}

// RFC 2971 §3.3: at most 30 pairs, fields of at most 30 octets, values of
// at most 1024.
const (
	maxIDPairs = 30
	maxIDField = 30
	maxIDValue = 1024
)

func (c *Conn) handleID(dec *imapwire.Decoder) error {
	if !dec.ExpectSP() {
		return dec.Err()
	}
	var client *imap.IDData
	var key string
	pairs := 0
	isList, err := dec.List(func() error {
		var s string
		if !dec.ExpectNString(&s) {
			return dec.Err()
		}
		if key == "" {
			if s == "" || len(s) > maxIDField {
				return newClientBugError("ID field names must be 1 to 30 octets")
			}
			if pairs++; pairs > maxIDPairs {
				return newClientBugError("At most 30 ID fields")
			}
			key = s
			return nil
		}
		if len(s) > maxIDValue {
			return newClientBugError("ID values must be at most 1024 octets")
		}
		if client == nil {
			client = &imap.IDData{}
		}
		setIDField(client, key, s)
		key = ""
		return nil
	})
	if err != nil {
		return err
	}
	if !isList {
		var atom string
		if !dec.ExpectAtom(&atom) || !strings.EqualFold(atom, "NIL") {
			return newClientBugError("ID takes a parenthesised list or NIL")
		}
	} else if key != "" {
		return newClientBugError("ID field without a value")
	}
	if !dec.ExpectCRLF() {
		return dec.Err()
	}
	if client == nil && isList {
		client = &imap.IDData{}
	}
	var server *imap.IDData
	if s, ok := c.session.(SessionID); ok {
		server = s.ID(client)
	}
	return c.writeID(server)
}

func setIDField(d *imap.IDData, key, value string) {
	switch strings.ToLower(key) {
	case "name":
		d.Name = value
	case "version":
		d.Version = value
	case "os":
		d.OS = value
	case "os-version":
		d.OSVersion = value
	case "vendor":
		d.Vendor = value
	case "support-url":
		d.SupportURL = value
	case "address":
		d.Address = value
	case "date":
		d.Date = value
	case "command":
		d.Command = value
	case "arguments":
		d.Arguments = value
	case "environment":
		d.Environment = value
	}
}

func (c *Conn) writeID(d *imap.IDData) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("ID").SP()
	var kv []string
	if d != nil {
		for _, f := range [][2]string{
			{"name", d.Name}, {"version", d.Version}, {"os", d.OS}, {"os-version", d.OSVersion},
			{"vendor", d.Vendor}, {"support-url", d.SupportURL}, {"address", d.Address}, {"date", d.Date},
			{"command", d.Command}, {"arguments", d.Arguments}, {"environment", d.Environment},
		} {
			if f[1] != "" {
				kv = append(kv, f[0], f[1])
			}
		}
	}
	if len(kv) == 0 {
		enc.NIL()
	} else {
		enc.List(len(kv), func(i int) { enc.String(kv[i]) })
	}
	return enc.CRLF()
}

// capQuotaResStorage says which resource the quotas limit (RFC 9208 §5.1).
const capQuotaResStorage imap.Cap = "QUOTA=RES-STORAGE"

// QuotaResource is one resource of a quota root: usage and limit, in the
// resource's units (STORAGE: units of 1024 octets, RFC 9208 §5.1).
type QuotaResource struct {
	Type  imap.QuotaResourceType
	Usage int64
	Limit int64
}

// SessionQuota is implemented by sessions of a server that advertises
// QUOTA. Setting quotas (QUOTASET) is not offered.
type SessionQuota interface {
	Session

	// QuotaRoots returns the quota roots of a mailbox (none if it has no
	// quota).
	QuotaRoots(mailbox string) ([]string, error)
	// Quota returns the resources of a quota root, or an error if there
	// is no such root.
	Quota(root string) ([]QuotaResource, error)
}

func (c *Conn) handleQuota(dec *imapwire.Decoder, name string) error {
	var arg string
	if !dec.ExpectSP() {
		return dec.Err()
	}
	switch name {
	case "GETQUOTAROOT":
		if !dec.ExpectMailbox(&arg) || !dec.ExpectCRLF() {
			return dec.Err()
		}
	case "GETQUOTA":
		if !dec.ExpectAString(&arg) || !dec.ExpectCRLF() {
			return dec.Err()
		}
	case "SETQUOTA":
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm,
			Text: "Quotas are set by the administrator"}
	}
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	s, ok := c.session.(SessionQuota)
	if !ok || !c.server.options.caps().Has(imap.CapQuota) {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Unknown command"}
	}
	roots := []string{arg}
	if name == "GETQUOTAROOT" {
		var err error
		if roots, err = s.QuotaRoots(arg); err != nil {
			return err
		}
		if err := c.writeQuotaRoot(arg, roots); err != nil {
			return err
		}
	}
	for _, root := range roots {
		res, err := s.Quota(root)
		if err != nil {
			return err
		}
		if err := c.writeQuota(root, res); err != nil {
			return err
		}
	}
	return nil
}

func (c *Conn) writeQuotaRoot(mailbox string, roots []string) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("QUOTAROOT").SP().Mailbox(mailbox)
	for _, r := range roots {
		enc.SP().String(r)
	}
	return enc.CRLF()
}

func (c *Conn) writeQuota(root string, res []QuotaResource) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("QUOTA").SP().String(root).SP()
	enc.List(len(res), func(i int) {
		enc.Atom(string(res[i].Type)).SP().Number64(res[i].Usage).SP().Number64(res[i].Limit)
	})
	return enc.CRLF()
}
