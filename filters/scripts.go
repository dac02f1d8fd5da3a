package filters

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tidings/tidings/migrations"
)

// Errors callers test with errors.Is. ManageSieve maps them to its response
// codes (RFC 5804 §1.3): NONEXISTENT, ALREADYEXISTS, ACTIVE, QUOTA/MAXSCRIPTS,
// QUOTA/MAXSIZE.
var (
	ErrNoScript       = errors.New("no such script")
	ErrScriptExists   = errors.New("a script with that name already exists")
	ErrActive         = errors.New("the script is active; deactivate it first")
	ErrTooManyScripts = errors.New("too many scripts")
	ErrScriptTooBig   = errors.New("script too large")
	ErrBadName        = errors.New("invalid script name")
)

// maxNameLen bounds a script name in bytes (RFC 5804 §1.6 leaves it to the
// server).
const maxNameLen = 128

// ScriptInfo describes a stored script.
type ScriptInfo struct {
	Name    string    `json:"name"`
	Active  bool      `json:"active"`
	Size    int       `json:"size"`
	Updated time.Time `json:"updated"`
}

// Scripts is the per-user script store (table sieve_scripts). Every method
// takes the owner's user ID from accounts.
type Scripts struct {
	db         *migrations.DB
	maxScripts int
	maxSize    int
	// check compiles a script; Put and CheckScript refuse what it refuses.
	check func(src []byte) error
}

// CheckName validates a script name (RFC 5804 §1.6: Net-Unicode, no
// control characters; we also refuse '/' and names longer than 128 bytes).
func CheckName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrBadName, why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxNameLen:
		return bad(fmt.Sprintf("longer than %d bytes", maxNameLen))
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case strings.ContainsFunc(name, func(r rune) bool {
		return unicode.IsControl(r) || r == '/' || r == 0x2028 || r == 0x2029
	}):
		return bad("contains a control character or '/'")
	}
	return nil
}

// SetCheck sets the compiler Put and Check run scripts through (the engine
// with the configured options; tests may set their own).
func (s *Scripts) SetCheck(check func(src []byte) error) { s.check = check }

// List returns the user's scripts by name.
func (s *Scripts) List(ctx context.Context, userID int64) ([]ScriptInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, active, length(source), updated_at
		FROM sieve_scripts WHERE user_id = $1 ORDER BY name`, userID)
	if err != nil {
		return nil, fmt.Errorf("filters: list scripts: %w", err)
	}
	defer rows.Close()
	var out []ScriptInfo
	for rows.Next() {
		var si ScriptInfo
		var upd int64
		if err := rows.Scan(&si.Name, &si.Active, &si.Size, &upd); err != nil {
			return nil, fmt.Errorf("filters: list scripts: %w", err)
		}
		si.Updated = time.UnixMicro(upd)
		out = append(out, si)
	}
	return out, rows.Err()
}

// Get returns a script's source.
func (s *Scripts) Get(ctx context.Context, userID int64, name string) (string, error) {
	var src string
	err := s.db.QueryRowContext(ctx, `SELECT source FROM sieve_scripts WHERE user_id = $1 AND name = $2`,
		userID, name).Scan(&src)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("script %q: %w", name, ErrNoScript)
	}
	if err != nil {
		return "", fmt.Errorf("filters: get script: %w", err)
	}
	return src, nil
}

// Check compiles src and returns the compile error (a *sieve.Error with
// line and column), or ErrScriptTooBig.
func (s *Scripts) Check(src string) error {
	if len(src) > s.maxSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrScriptTooBig, len(src), s.maxSize)
	}
	if s.check == nil {
		return nil
	}
	return s.check([]byte(src))
}

// HaveSpace reports whether a script of size bytes could be stored under
// name (RFC 5804 §2.3): ErrScriptTooBig or ErrTooManyScripts if not.
func (s *Scripts) HaveSpace(ctx context.Context, userID int64, name string, size int64) error {
	if size > int64(s.maxSize) {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrScriptTooBig, size, s.maxSize)
	}
	return s.haveRoom(ctx, s.db.QueryRowContext, userID, name)
}

type queryRow func(ctx context.Context, q string, args ...any) *sql.Row

// haveRoom fails with ErrTooManyScripts when name is new and the user is at
// the script limit.
func (s *Scripts) haveRoom(ctx context.Context, q queryRow, userID int64, name string) error {
	var n, same int
	err := q(ctx, `SELECT count(*), count(CASE WHEN name = $2 THEN 1 END) FROM sieve_scripts WHERE user_id = $1`,
		userID, name).Scan(&n, &same)
	if err != nil {
		return fmt.Errorf("filters: count scripts: %w", err)
	}
	if same == 0 && n >= s.maxScripts {
		return fmt.Errorf("%w: at most %d", ErrTooManyScripts, s.maxScripts)
	}
	return nil
}

// Put stores a script, replacing one of the same name (its active flag
// stays). The script must compile (RFC 5804 §2.6).
func (s *Scripts) Put(ctx context.Context, userID int64, name, src string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := s.Check(src); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.haveRoom(ctx, tx.QueryRowContext, userID, name); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sieve_scripts (user_id, name, source, updated_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, name) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at`,
			userID, name, src, time.Now().UnixMicro())
		return err
	})
}

// Activate makes name the active script and every other one inactive; ""
// deactivates all (RFC 5804 §2.8).
func (s *Scripts) Activate(ctx context.Context, userID int64, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if name != "" {
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM sieve_scripts WHERE user_id = $1 AND name = $2`+s.db.ForUpdate(),
				userID, name).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("script %q: %w", name, ErrNoScript)
			}
			if err != nil {
				return err
			}
		}
		// Two steps, so the partial unique index never sees two active rows.
		now := time.Now().UnixMicro()
		if _, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET active = FALSE, updated_at = $2
			WHERE user_id = $1 AND active`, userID, now); err != nil {
			return err
		}
		if name == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET active = TRUE, updated_at = $3
			WHERE user_id = $1 AND name = $2`, userID, name, now)
		return err
	})
}

// Delete removes an inactive script (RFC 5804 §2.10: the active one cannot
// be deleted).
func (s *Scripts) Delete(ctx context.Context, userID int64, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var active bool
		err := tx.QueryRowContext(ctx, `SELECT active FROM sieve_scripts WHERE user_id = $1 AND name = $2`+s.db.ForUpdate(),
			userID, name).Scan(&active)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("script %q: %w", name, ErrNoScript)
		}
		if err != nil {
			return err
		}
		if active {
			return ErrActive
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sieve_scripts WHERE user_id = $1 AND name = $2`, userID, name)
		return err
	})
}

// Rename renames a script, keeping its active flag (RFC 5804 §2.11.1).
func (s *Scripts) Rename(ctx context.Context, userID int64, from, to string) error {
	if err := CheckName(to); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sieve_scripts WHERE user_id = $1 AND name = $2`,
			userID, to).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("script %q: %w", to, ErrScriptExists)
		}
		res, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET name = $3, updated_at = $4
			WHERE user_id = $1 AND name = $2`, userID, from, to, time.Now().UnixMicro())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("script %q: %w", from, ErrNoScript)
		}
		return nil
	})
}

// activeScript is the active script with the key that changes whenever its
// source or name does.
type activeScript struct {
	id      int64
	updated int64
	source  string
}

// active returns the user's active script; ok is false if there is none.
func (s *Scripts) active(ctx context.Context, userID int64) (a activeScript, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT id, updated_at, source FROM sieve_scripts WHERE user_id = $1 AND active`,
		userID).Scan(&a.id, &a.updated, &a.source)
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("filters: active script: %w", err)
	}
	return a, true, nil
}
