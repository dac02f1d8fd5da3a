package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/tidings/tidings/accounts"
)

// ImportMessage is one message of a bulk import (tidings mail import).
type ImportMessage struct {
	Body    *Spooled
	Mailbox string // "" means INBOX; created if missing
	Flags   []string
	// InternalDate is the arrival time to keep; zero takes the Date header,
	// and if that is missing too, now.
	InternalDate time.Time
}

// Import stores msgs for u, in order, in one transaction: a bulk import
// pays one commit (one fsync) per batch instead of one per message, and
// the messages of a batch get ascending UIDs in the order given.
//
// It stops at the first message a target error refuses (over quota, an
// invalid mailbox name or flag) and commits the ones before it: it returns
// how many were stored and that error, with the message's index in
// msgs (an *ImportError). Other errors (I/O, database) store nothing of the batch.
func (s *Store) Import(ctx context.Context, u accounts.User, msgs []ImportMessage) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if err := s.EnsureDefaults(ctx, u.ID); err != nil {
		return 0, err
	}
	cached := make([]cachedHeader, len(msgs))
	dates := make([]time.Time, len(msgs))
	for i, m := range msgs {
		cached[i] = parseHeader(m.Body.NewReader())
		dates[i] = m.InternalDate
		if dates[i].IsZero() {
			dates[i] = cached[i].sentDate
		}
		if dates[i].IsZero() {
			dates[i] = time.Now()
		}
	}
	var results []Result
	var stop error
	err := s.commits.do(ctx, func(tx *sql.Tx) error {
		results, stop = results[:0], nil
		for i, m := range msgs {
			t := Target{User: u, Mailbox: m.Mailbox, Create: true, Flags: m.Flags}
			// deliverOne checks the target before it writes anything, so
			// a refused message leaves the transaction clean; its body
			// is inserted afterwards only when the row went in.
			bodyID, err := insertBody(ctx, tx, m.Body)
			if err != nil {
				return err
			}
			r, err := s.deliverOne(ctx, tx, t, bodyID, m.Body.Size(), dates[i], cached[i])
			if err != nil {
				if !isTargetError(err) {
					return err
				}
				if _, derr := tx.ExecContext(ctx, "DELETE FROM body_chunks WHERE body_id = $1", bodyID); derr != nil {
					return derr
				}
				if _, derr := tx.ExecContext(ctx, "DELETE FROM bodies WHERE id = $1", bodyID); derr != nil {
					return derr
				}
				stop = &ImportError{Index: i, Err: err}
				break
			}
			results = append(results, r)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// Publish one change per mailbox run, as a delivery would per message.
	for i := 0; i < len(results); {
		j := i
		var uids []uint32
		for ; j < len(results) && results[j].MailboxID == results[i].MailboxID; j++ {
			uids = append(uids, results[j].UID)
		}
		r := results[j-1]
		s.bus.publish(Change{Kind: MessagesAdded, UserID: u.ID, MailboxID: r.MailboxID, Mailbox: r.Mailbox, UIDs: uids, ModSeq: r.ModSeq})
		i = j
	}
	return len(results), stop
}

// ImportError is the target error that stopped an Import at msgs[Index].
type ImportError struct {
	Index int
	Err   error
}

func (e *ImportError) Error() string { return e.Err.Error() }
func (e *ImportError) Unwrap() error { return e.Err }
