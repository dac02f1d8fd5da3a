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
// each with .SILENT. The other sessions get FETCH FLAGS through their
// trackers; this one answers with the new flags of every message in the
// set unless .SILENT.
func (x *session) Store(w *imapserver.FetchWriter, set imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) (err error) {
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
	updated, _, err := x.s.store.StoreFlags(x.ctx, sel.box.id, uidRanges(uidsOf(items)), flagOps[flags.Op], storeFlags(flags.Flags), 0)
	sel.box.storedFlags(updated, sel.tracker)
	if err != nil {
		return x.fail(err, "store")
	}
	if flags.Silent {
		return nil
	}
	return x.fetchItems(w, sel, items, &imap.FetchOptions{Flags: true}, nil)
}
