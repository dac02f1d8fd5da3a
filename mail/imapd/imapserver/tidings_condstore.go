package imapserver

// tidings: this file is not in upstream go-imap. It adds CONDSTORE and
// QRESYNC (RFC 7162) to the server: SELECT/EXAMINE parameters, FETCH and
// STORE modifiers, the MODSEQ FETCH item and SEARCH key, the HIGHESTMODSEQ
// and MODIFIED response codes and the VANISHED response. See FORK.md.

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/imapd/imapserver/internal/imapwire"
)

// SessionQResync is implemented by sessions of a server that advertises
// QRESYNC (RFC 7162 §3.2).
type SessionQResync interface {
	Session

	// Vanished returns the UIDs of the selected mailbox that were
	// expunged with a mod-sequence above modSeq, limited to uids unless
	// it is nil (all of them).
	Vanished(uids *imap.UIDSet, modSeq uint64) (imap.UIDSet, error)
}

// selectParams are the parameters of SELECT and EXAMINE (RFC 4466 §2.1).
type selectParams struct {
	condStore bool
	qresync   *qresyncParams
}

// qresyncParams is the QRESYNC select parameter (RFC 7162 §3.2.5). The
// optional sequence match data only helps servers that forget expunged
// UIDs; this one keeps them, so it is parsed and not used.
type qresyncParams struct {
	uidValidity uint32
	modSeq      uint64
	knownUIDs   *imap.UIDSet
}

func readSelectParams(dec *imapwire.Decoder, p *selectParams) error {
	return dec.ExpectList(func() error {
		var name string
		if !dec.ExpectAtom(&name) {
			return dec.Err()
		}
		switch strings.ToUpper(name) {
		case "CONDSTORE":
			p.condStore = true
		case "QRESYNC":
			q := &qresyncParams{}
			if !dec.ExpectSP() || !dec.ExpectSpecial('(') || !dec.ExpectNumber(&q.uidValidity) ||
				!dec.ExpectSP() || !dec.ExpectModSeq(&q.modSeq) {
				return dec.Err()
			}
			if dec.SP() {
				seqMatch := dec.Special('(')
				if !seqMatch {
					var known imap.UIDSet
					if !dec.ExpectUIDSet(&known) {
						return dec.Err()
					}
					q.knownUIDs = &known
					if dec.SP() {
						if !dec.ExpectSpecial('(') {
							return dec.Err()
						}
						seqMatch = true
					}
				}
				if seqMatch {
					var seqs imap.NumSet
					var uids imap.UIDSet
					if !dec.ExpectNumSet(imapwire.NumKindSeq, &seqs) || !dec.ExpectSP() ||
						!dec.ExpectUIDSet(&uids) || !dec.ExpectSpecial(')') {
						return dec.Err()
					}
				}
			}
			if !dec.ExpectSpecial(')') {
				return dec.Err()
			}
			p.qresync = q
		default:
			return newClientBugError("Unknown SELECT parameter")
		}
		return nil
	})
}

// writeHighestModSeq writes the HIGHESTMODSEQ response code of SELECT
// and EXAMINE, or NOMODSEQ when the mailbox has none and the client uses
// CONDSTORE (RFC 7162 §3.1.2.1, §3.1.2.2).
func (c *Conn) writeHighestModSeq(modSeq uint64) error {
	if modSeq == 0 && !c.CondStoreEnabled() {
		return nil
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("OK").SP()
	if modSeq == 0 {
		enc.Special('[').Atom("NOMODSEQ").Special(']').SP().Text("No mod-sequences in this mailbox")
	} else {
		enc.Special('[').Atom("HIGHESTMODSEQ").SP().ModSeq(modSeq).Special(']').SP().Text("Highest mailbox mod-sequence")
	}
	return enc.CRLF()
}

// qresyncSelect sends what changed since the client's last known state,
// after a SELECT or EXAMINE with a QRESYNC parameter whose UIDVALIDITY
// matches: VANISHED (EARLIER) for the expunged UIDs, then FETCH for every
// message whose mod-sequence is higher (RFC 7162 §3.2.5.1).
func (c *Conn) qresyncSelect(q *qresyncParams) error {
	vanished, err := c.session.(SessionQResync).Vanished(q.knownUIDs, q.modSeq)
	if err != nil {
		return err
	}
	if err := c.writeVanished(vanished, true); err != nil {
		return err
	}
	w := &FetchWriter{conn: c}
	return c.session.Fetch(w, imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, ModSeq: true, ChangedSince: q.modSeq,
	})
}

// writeVanished writes a VANISHED response (RFC 7162 §3.2.10); nothing
// for an empty set.
func (c *Conn) writeVanished(uids imap.UIDSet, earlier bool) error {
	if len(uids) == 0 {
		return nil
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("VANISHED").SP()
	if earlier {
		enc.Atom("(EARLIER)").SP()
	}
	enc.NumSet(uids)
	return enc.CRLF()
}

// fetchModifiers are the FETCH modifiers of RFC 7162 §3.1.4 and §3.2.6.
type fetchModifiers struct {
	changedSince bool
	vanished     bool
}

func readFetchModifiers(dec *imapwire.Decoder, options *imap.FetchOptions, m *fetchModifiers) error {
	return dec.ExpectList(func() error {
		var name string
		if !dec.ExpectAtom(&name) {
			return dec.Err()
		}
		switch strings.ToUpper(name) {
		case "CHANGEDSINCE":
			if !dec.ExpectSP() || !dec.ExpectModSeq(&options.ChangedSince) {
				return dec.Err()
			}
			m.changedSince = true
		case "VANISHED":
			m.vanished = true
		default:
			return newClientBugError("Unknown FETCH modifier")
		}
		return nil
	})
}

// prepareCondStoreFetch checks the modifiers against the connection's
// state, enables CONDSTORE when the command asks for mod-sequences, and
// writes VANISHED (EARLIER) for UID FETCH … (CHANGEDSINCE n VANISHED).
func (c *Conn) prepareCondStoreFetch(numKind NumKind, numSet imap.NumSet, options *imap.FetchOptions, m *fetchModifiers) error {
	if m.vanished {
		switch {
		case !c.QResyncEnabled():
			return newClientBugError("VANISHED requires ENABLE QRESYNC")
		case numKind != NumKindUID:
			return newClientBugError("VANISHED is only allowed in UID FETCH")
		case !m.changedSince:
			return newClientBugError("VANISHED requires CHANGEDSINCE")
		}
	}
	if m.changedSince {
		options.ModSeq = true // CHANGEDSINCE implies MODSEQ (RFC 7162 §3.1.4.1)
	}
	if options.ModSeq {
		c.enableCondStore()
	}
	if c.QResyncEnabled() {
		options.UID = true // every FETCH response carries the UID (RFC 7162 §3.2)
	}
	if !m.vanished {
		return nil
	}
	uids := numSet.(imap.UIDSet)
	vanished, err := c.session.(SessionQResync).Vanished(&uids, options.ChangedSince)
	if err != nil {
		return err
	}
	return c.writeVanished(vanished, true)
}

// WriteModSeq writes the MODSEQ data item (RFC 7162 §3.1.4.1).
func (w *FetchResponseWriter) WriteModSeq(modSeq uint64) {
	w.writeItemSep()
	w.enc.Atom("MODSEQ").SP().Special('(').ModSeq(modSeq).Special(')')
}

// CondStoreEnabled tells a session's Fetch and Store whether its FETCH
// responses must carry MODSEQ (RFC 7162 §3.1).
func (cmd *FetchWriter) CondStoreEnabled() bool {
	return cmd.conn != nil && cmd.conn.CondStoreEnabled()
}

// SetModified records the messages a STORE with UNCHANGEDSINCE left alone
// because they changed meanwhile: the tagged OK carries them as
// [MODIFIED set] (RFC 7162 §3.1.3). Sequence numbers for STORE, UIDs for
// UID STORE.
func (cmd *FetchWriter) SetModified(set imap.NumSet) { cmd.modified = set }

// readStoreModifiers reads the optional (UNCHANGEDSINCE n) of STORE.
func readStoreModifiers(dec *imapwire.Decoder, options *imap.StoreOptions) (present bool, err error) {
	isList, err := dec.List(func() error {
		var name string
		if !dec.ExpectAtom(&name) {
			return dec.Err()
		}
		if !strings.EqualFold(name, "UNCHANGEDSINCE") {
			return newClientBugError("Unknown STORE modifier")
		}
		if !dec.ExpectSP() || !dec.ExpectModSeq(&options.UnchangedSince) {
			return dec.Err()
		}
		present = true
		return nil
	})
	if err != nil {
		return false, err
	}
	if isList && !dec.ExpectSP() {
		return false, dec.Err()
	}
	return present, nil
}

// storeDone writes the tagged reply of STORE, with [MODIFIED] if a
// conditional store skipped messages.
func (c *Conn) storeDone(tag string, w *FetchWriter) error {
	if err := c.poll("STORE"); err != nil {
		return err
	}
	resp := &imap.StatusResponse{Type: imap.StatusResponseTypeOK, Text: "STORE completed"}
	if w.modified != nil && !isNumSetEmpty(w.modified) {
		resp.Code = imap.ResponseCode("MODIFIED " + w.modified.String())
		resp.Text = "Conditional STORE failed"
	}
	return c.writeStatusResp(tag, resp)
}

// readSearchModSeq reads the rest of the MODSEQ search key:
// [entry-name SP entry-type-req SP] mod-sequence-valzer (RFC 7162 §3.1.5).
func readSearchModSeq(dec *imapwire.Decoder, criteria *imap.SearchCriteria) error {
	ms := &imap.SearchCriteriaModSeq{}
	if !dec.ExpectSP() {
		return dec.Err()
	}
	var entry string
	if dec.Quoted(&entry) {
		var typ string
		if !dec.ExpectSP() || !dec.ExpectAtom(&typ) || !dec.ExpectSP() {
			return dec.Err()
		}
		ms.MetadataName = entry
		ms.MetadataType = imap.SearchCriteriaMetadataType(strings.ToLower(typ))
	}
	if !dec.ExpectModSeq(&ms.ModSeq) {
		return dec.Err()
	}
	criteria.ModSeq = ms
	return nil
}

// searchUsesModSeq reports whether criteria has a MODSEQ key anywhere.
func searchUsesModSeq(c *imap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if searchUsesModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if searchUsesModSeq(&c.Or[i][0]) || searchUsesModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
}
