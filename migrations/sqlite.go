package migrations

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// sqliteDriverName is go-sqlite3 behind a connection wrapper that makes
// PostgreSQL-style placeholders mean the same in SQLite: go-sqlite3 binds
// arguments by order of first appearance, so "$2 ... $1" would bind the
// first argument to $2. SQLite's own numbered form ?NNN binds by number, so
// every $N outside a string literal is rewritten to ?N.
const sqliteDriverName = "tidings-sqlite3"

func init() {
	sql.Register(sqliteDriverName, sqliteDriver{&sqlite3.SQLiteDriver{}})
}

type sqliteDriver struct{ d *sqlite3.SQLiteDriver }

func (d sqliteDriver) Open(dsn string) (driver.Conn, error) {
	c, err := d.d.Open(dsn)
	if err != nil {
		return nil, err
	}
	return &sqliteConn{c.(*sqlite3.SQLiteConn)}, nil
}

// sqliteConn rewrites placeholders in every statement; everything else is
// go-sqlite3's own.
type sqliteConn struct{ *sqlite3.SQLiteConn }

func (c *sqliteConn) Prepare(query string) (driver.Stmt, error) {
	return c.SQLiteConn.Prepare(numberedPlaceholders(query))
}

func (c *sqliteConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.SQLiteConn.PrepareContext(ctx, numberedPlaceholders(query))
}

func (c *sqliteConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.SQLiteConn.ExecContext(ctx, numberedPlaceholders(query), args)
}

func (c *sqliteConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.SQLiteConn.QueryContext(ctx, numberedPlaceholders(query), args)
}

// numberedPlaceholders turns $N into ?N outside quoted strings and
// identifiers.
func numberedPlaceholders(q string) string {
	if !strings.Contains(q, "$") {
		return q
	}
	b := []byte(q)
	var quote byte
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '$' && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '9':
			b[i] = '?'
		}
	}
	return string(b)
}
