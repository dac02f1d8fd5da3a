package imapd

import (
	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/imapd/imapserver"
	"github.com/tidings/tidings/mail/store"
)

var flagOps = map[imap.StoreFlagsOp]store.FlagOp{
	imap.StoreFlagsSet: store.FlagsSet, imap.StoreFlagsAdd: store.FlagsAdd, imap.StoreFlagsDel: store.FlagsRemove,
}

// Store is STORE and UID STORE (RFC 9051 §6.4.6): FLAGS, +FLAGS, -FLAGS,
// each with .SILENT, and UNCHANGEDSINCE (RFC 7162 §3.1.3). The other
// sessions get FETCH FLAGS through their trackers; this one answers with
// the new flags of every message in the set unless .SILENT. Once CONDSTORE
// is on, the answer carries MODSEQ, and .SILENT still answers with the new
// MODSEQ of each changed message. Messages that fail the UNCHANGEDSINCE
// test are left alone, get no answer and are named in [MODIFIED].
func (x *session) Store(w *imapserver.FetchWriter, set imap.NumSet, flags *imap.StoreFlags, opt *imap.StoreOptions) (err error) {
	x.enter()
	defer x.leave(&err)
	sel, err := x.writable()
	if err != nil {
		return err
	}
	items := x.items(sel, set)
	if len(items) == 0 {
		return nil
	}
	sel.box.storing()
	updated, modified, err := x.s.store.StoreFlags(x.ctx, sel.box.id, uidRanges(uidsOf(items)), flagOps[flags.Op],
		storeFlags(flags.Flags), opt.UnchangedSince)
	sel.box.storedFlags(updated, sel.tracker)
	if err != nil {
		return x.fail(err, "store")
	}
	if len(modified) > 0 {
		skip := make(map[uint32]bool, len(modified))
		for _, uid := range modified {
			skip[uid] = true
		}
		var seqs imap.SeqSet
		var uids imap.UIDSet
		kept := items[:0:0]
		for _, it := range items {
			if !skip[it.uid] {
				kept = append(kept, it)
				continue
			}
			seqs.AddNum(it.seq)
			uids.AddNum(imap.UID(it.uid))
		}
		if _, byUID := set.(imap.UIDSet); byUID {
			w.SetModified(uids)
		} else {
			w.SetModified(seqs)
		}
		items = kept
	}
	condStore := w.CondStoreEnabled()
	if flags.Silent {
		if !condStore || len(updated) == 0 {
			return nil
		}
		changed := make(map[uint32]bool, len(updated))
		for _, u := range updated {
			changed[u.UID] = true
		}
		kept := items[:0:0]
		for _, it := range items {
			if changed[it.uid] {
				kept = append(kept, it)
			}
		}
		return x.fetchItems(w, sel, kept, &imap.FetchOptions{ModSeq: true}, nil)
	}
	return x.fetchItems(w, sel, items, &imap.FetchOptions{Flags: true, ModSeq: condStore}, nil)
}
