package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/tidings/tidings/migrations"
)

// keywordCond selects the messages whose flags hold a keyword. It is the
// condition of the partial index messages_keywords (migration 0009), word
// for word, so that the planner uses that index.
const keywordCond = `flags <> '' AND (substr(flags, 1, 1) <> '\' OR replace(flags, ' \', '') LIKE '% %')`

// IndexEntry is a message's UID and MODSEQ.
type IndexEntry struct {
	UID    uint32
	ModSeq uint64
}

// LoadIndex returns what selecting a mailbox needs: every message's UID
// and MODSEQ, by ascending UID, and the keywords in use in the mailbox.
//
// Both come from indexes (migration 0009) without reading the rows. On
// SQLite, a row-by-row query over 100,000 messages spent most of its time
// crossing cgo and database/sql for each row, so the UIDs and the MODSEQs
// come back as two JSON arrays instead, about four times faster. SQLite
// aggregates in the order of its index scan, by UID, without being told
// (telling it makes it sort); the order is checked here.
func (s *Store) LoadIndex(ctx context.Context, mailboxID int64) ([]IndexEntry, []string, error) {
	q := `SELECT COUNT(*), COALESCE(json_group_array(uid), '[]'), COALESCE(json_group_array(modseq), '[]')
		FROM messages WHERE mailbox_id = $1`
	if s.db.Dialect() == migrations.Postgres {
		q = `SELECT COUNT(*), COALESCE(json_agg(uid ORDER BY uid)::text, '[]'), COALESCE(json_agg(modseq ORDER BY uid)::text, '[]')
			FROM messages WHERE mailbox_id = $1`
	}
	var n int
	var uids, modseqs string
	if err := s.db.QueryRowContext(ctx, q, mailboxID).Scan(&n, &uids, &modseqs); err != nil {
		return nil, nil, err
	}
	out := make([]IndexEntry, 0, n)
	err := eachNumber(uids, func(v uint64) error {
		if v > math.MaxUint32 {
			return fmt.Errorf("uid %d", v)
		}
		out = append(out, IndexEntry{UID: uint32(v)})
		return nil
	})
	i := 0
	if err == nil {
		err = eachNumber(modseqs, func(v uint64) error {
			if i >= len(out) {
				return errors.New("more MODSEQs than UIDs")
			}
			out[i].ModSeq = v
			i++
			return nil
		})
	}
	if err == nil && (i != len(out) || len(out) != n) {
		err = fmt.Errorf("%d messages, %d UIDs, %d MODSEQs", n, len(out), i)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: mailbox index: %w", err)
	}
	if !slices.IsSortedFunc(out, compareIndex) {
		slices.SortFunc(out, compareIndex)
	}
	keywords, err := s.keywords(ctx, mailboxID)
	return out, keywords, err
}

func compareIndex(a, b IndexEntry) int { return cmp.Compare(a.UID, b.UID) }

// eachNumber calls fn with each number of a JSON array of unsigned
// integers, as the database wrote it: a hand-written loop, since this runs
// for every message of a mailbox.
func eachNumber(arr string, fn func(uint64) error) error {
	arr = strings.TrimSpace(arr)
	if len(arr) < 2 || arr[0] != '[' || arr[len(arr)-1] != ']' {
		return fmt.Errorf("not an array: %.20q", arr)
	}
	if strings.TrimSpace(arr[1:len(arr)-1]) == "" {
		return nil
	}
	var v uint64
	digits := 0
	for i := 1; i < len(arr); i++ {
		switch c := arr[i]; {
		case '0' <= c && c <= '9':
			d := uint64(c - '0')
			if v > (math.MaxUint64-d)/10 {
				return fmt.Errorf("number too large at %d", i)
			}
			v = v*10 + d
			digits++
		case c == ',' || c == ']':
			if digits == 0 {
				return fmt.Errorf("missing number at %d", i)
			}
			if err := fn(v); err != nil {
				return err
			}
			v, digits = 0, 0
		case c == ' ' && digits == 0: // PostgreSQL writes "[1, 2]"
		default:
			return fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return nil
}

// keywords returns the keywords set on any message of a mailbox, sorted.
func (s *Store) keywords(ctx context.Context, mailboxID int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT DISTINCT flags FROM messages WHERE mailbox_id = $1 AND "+keywordCond, mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var flags string
		if err := rows.Scan(&flags); err != nil {
			return nil, err
		}
		for _, f := range splitFlags(flags) {
			if !strings.HasPrefix(f, `\`) {
				seen[f] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, rows.Err()
}
