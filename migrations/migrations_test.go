package migrations_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// eachFresh runs fn as the subtests "sqlite" and "postgres", each with the
// configuration of a new, empty (unmigrated) database.
func eachFresh(t *testing.T, fn func(t *testing.T, c migrations.Config)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, migrations.DefaultConfig(filepath.Join(t.TempDir(), "tidings.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		c := migrations.DefaultConfig(dbtest.PostgresDSN(t))
		c.Driver = string(migrations.Postgres)
		fn(t, c)
	})
}

func open(t *testing.T, c migrations.Config) *migrations.DB {
	t.Helper()
	db, err := migrations.Open(context.Background(), c)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func steps(t *testing.T, d migrations.Dialect) []migrations.Step {
	t.Helper()
	s, err := migrations.Steps(d)
	if err != nil {
		t.Fatalf("Steps(%s): %v", d, err)
	}
	if len(s) == 0 {
		t.Fatalf("Steps(%s): no migrations", d)
	}
	return s
}

// applied returns the versions recorded in schema_version, in order.
func applied(t *testing.T, db *migrations.DB) []int {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT version FROM schema_version ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func checkFullyMigrated(t *testing.T, db *migrations.DB) {
	t.Helper()
	want := len(steps(t, db.Dialect()))
	v, err := db.Version(context.Background())
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if v != want {
		t.Errorf("Version = %d, want %d", v, want)
	}
	vs := applied(t, db)
	if len(vs) != want {
		t.Fatalf("schema_version holds %v, want each of 1..%d once", vs, want)
	}
	for i, v := range vs {
		if v != i+1 {
			t.Fatalf("schema_version holds %v, want each of 1..%d once", vs, want)
		}
	}
}

func TestStepsMatchAcrossDialects(t *testing.T) {
	lite, pg := steps(t, migrations.SQLite), steps(t, migrations.Postgres)
	if len(lite) != len(pg) {
		t.Fatalf("%d SQLite steps, %d PostgreSQL steps", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].Version != pg[i].Version || lite[i].Name != pg[i].Name {
			t.Errorf("step %d: SQLite %04d_%s, PostgreSQL %04d_%s", i+1,
				lite[i].Version, lite[i].Name, pg[i].Version, pg[i].Name)
		}
	}
}

func TestOpenAppliesAllSteps(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		checkFullyMigrated(t, db)
		if err := db.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
		// The first step's tables exist and are empty.
		var n int
		if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM users").Scan(&n); err != nil || n != 0 {
			t.Errorf("SELECT COUNT(*) FROM users: %d, %v", n, err)
		}
	})
}

func TestDialectAndString(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db := open(t, migrations.DefaultConfig(path))
	if db.Dialect() != migrations.SQLite {
		t.Errorf("Dialect = %q", db.Dialect())
	}
	if !strings.Contains(db.String(), path) {
		t.Errorf("String = %q, want the path %q", db.String(), path)
	}
	if got := db.ForUpdate(); got != "" {
		t.Errorf("SQLite ForUpdate = %q, want \"\"", got)
	}
	pg := dbtest.Postgres(t)
	if pg.Dialect() != migrations.Postgres {
		t.Errorf("Dialect = %q", pg.Dialect())
	}
	if got := pg.ForUpdate(); got != " FOR UPDATE" {
		t.Errorf("PostgreSQL ForUpdate = %q", got)
	}
}

func TestOpenTwiceIsIdempotent(t *testing.T) {
	eachFresh(t, func(t *testing.T, c migrations.Config) {
		first := open(t, c)
		checkFullyMigrated(t, first)
		// Again while the first handle is open, and again after closing it.
		checkFullyMigrated(t, open(t, c))
		first.Close()
		checkFullyMigrated(t, open(t, c))
	})
}

func TestSchemaTooNew(t *testing.T) {
	eachFresh(t, func(t *testing.T, c migrations.Config) {
		db := open(t, c)
		n := len(steps(t, db.Dialect()))
		err := db.Tx(context.Background(), func(tx *sql.Tx) error {
			_, err := tx.Exec("INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)", n+1, "from_the_future", 0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()

		db2, err := migrations.Open(context.Background(), c)
		if err == nil {
			db2.Close()
			t.Fatal("Open of a database from a newer version succeeded")
		}
		if !errors.Is(err, migrations.ErrSchemaTooNew) {
			t.Fatalf("Open: %v, want ErrSchemaTooNew", err)
		}
		if want := fmt.Sprintf("database at version %d, binary knows %d", n+1, n); !strings.Contains(err.Error(), want) {
			t.Errorf("Open: %v, want it to say %q", err, want)
		}
	})
}

func TestConcurrentOpen(t *testing.T) {
	const n = 8
	eachFresh(t, func(t *testing.T, c migrations.Config) {
		var wg sync.WaitGroup
		dbs := make([]*migrations.DB, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { dbs[i], errs[i] = migrations.Open(context.Background(), c) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Errorf("Open %d: %v", i, errs[i])
				continue
			}
			t.Cleanup(func() { dbs[i].Close() })
		}
		if t.Failed() {
			return
		}
		checkFullyMigrated(t, dbs[0])
	})
}

func TestConcurrentMigrate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := db.Migrate(context.Background()); err != nil {
					t.Errorf("Migrate: %v", err)
				}
			})
		}
		wg.Wait()
		checkFullyMigrated(t, db)
	})
}

func TestLoadSteps(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	t.Run("ok", func(t *testing.T) {
		got, err := migrations.LoadSteps(fstest.MapFS{
			"d/0002_second.sql": file("B"),
			"d/0001_first.sql":  file("A"),
			"d/0003_third.sql":  file("C"),
		}, "d")
		if err != nil {
			t.Fatal(err)
		}
		want := []migrations.Step{{1, "first", "A"}, {2, "second", "B"}, {3, "third", "C"}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"gap", []string{"0001_a.sql", "0002_b.sql", "0004_d.sql"}, "step 3 is numbered 4"},
		{"no first", []string{"0002_b.sql"}, "step 1 is numbered 2"},
		{"duplicate", []string{"0001_a.sql", "0001_b.sql"}, "step 2 is numbered 1"},
		{"no number", []string{"0001_a.sql", "first_b.sql"}, "first_b.sql: want NNNN_name.sql"},
		{"no name", []string{"0001.sql"}, "0001.sql: want NNNN_name.sql"},
		{"not sql", []string{"0001_a.sql", "0002_b.txt"}, "0002_b.txt: want NNNN_name.sql"},
		{"stray file", []string{"0001_a.sql", "README"}, "README: want NNNN_name.sql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys["d/"+f] = file("SELECT 1;")
			}
			got, err := migrations.LoadSteps(fsys, "d")
			if err == nil {
				t.Fatalf("LoadSteps(%v) = %v, want an error", tc.files, got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadSteps(%v): %v, want it to contain %q", tc.files, err, tc.want)
			}
		})
	}
	t.Run("missing dir", func(t *testing.T) {
		if _, err := migrations.LoadSteps(fstest.MapFS{}, "nope"); err == nil {
			t.Error("LoadSteps of a missing folder succeeded")
		}
	})
}

func TestIsUniqueViolation(t *testing.T) {
	for _, err := range []error{nil, errors.New("UNIQUE constraint failed"), sql.ErrNoRows, context.Canceled} {
		if migrations.IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = true", err)
		}
	}
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		ctx := context.Background()
		exec := func(q string, args ...any) error {
			return db.Tx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, q, args...)
				return err
			})
		}
		if err := exec("INSERT INTO domains (name, created_at) VALUES ($1, $2)", "example.org", 1); err != nil {
			t.Fatal(err)
		}
		err := exec("INSERT INTO domains (name, created_at) VALUES ($1, $2)", "example.org", 2)
		if !migrations.IsUniqueViolation(err) {
			t.Errorf("duplicate UNIQUE: IsUniqueViolation(%v) = false", err)
		}
		if wrapped := fmt.Errorf("add domain: %w", err); !migrations.IsUniqueViolation(wrapped) {
			t.Errorf("wrapped: IsUniqueViolation(%v) = false", wrapped)
		}
		var id int64
		if err := db.QueryRowContext(ctx, "SELECT id FROM domains WHERE name = $1", "example.org").Scan(&id); err != nil {
			t.Fatal(err)
		}
		// Duplicate explicit primary key.
		err = exec("INSERT INTO domains (id, name, created_at) VALUES ($1, $2, $3)", id, "other.example", 3)
		if !migrations.IsUniqueViolation(err) {
			t.Errorf("duplicate PRIMARY KEY: IsUniqueViolation(%v) = false", err)
		}
		// Composite primary key.
		if err := exec("INSERT INTO users (domain_id, localpart, created_at, updated_at) VALUES ($1, $2, $3, $3)", id, "alice", 1); err != nil {
			t.Fatal(err)
		}
		var uid int64
		if err := db.QueryRowContext(ctx, "SELECT id FROM users").Scan(&uid); err != nil {
			t.Fatal(err)
		}
		cred := "INSERT INTO credentials (user_id, mechanism, salt, iterations, stored_key, server_key) VALUES ($1, $2, $3, $4, $3, $3)"
		if err := exec(cred, uid, "SCRAM-SHA-256", []byte("x"), 4096); err != nil {
			t.Fatal(err)
		}
		err = exec(cred, uid, "SCRAM-SHA-256", []byte("y"), 4096)
		if !migrations.IsUniqueViolation(err) {
			t.Errorf("duplicate composite PRIMARY KEY: IsUniqueViolation(%v) = false", err)
		}

		// Other constraint failures are not unique violations.
		for _, tc := range []struct {
			what, q string
			args    []any
		}{
			{"NOT NULL", "INSERT INTO domains (name, created_at) VALUES ($1, $2)", []any{nil, 1}},
			{"FOREIGN KEY", "INSERT INTO users (domain_id, localpart, created_at, updated_at) VALUES ($1, $2, $3, $3)", []any{id + 1000, "bob", 1}},
			{"syntax", "INSERT INTO nowhere VALUES ($1)", []any{1}},
		} {
			err := exec(tc.q, tc.args...)
			if err == nil {
				t.Errorf("%s violation: no error", tc.what)
			} else if migrations.IsUniqueViolation(err) {
				t.Errorf("%s violation: IsUniqueViolation(%v) = true", tc.what, err)
			}
		}
	})
}

func TestTxRollsBack(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO domains (name, created_at) VALUES ($1, $2)", "a.example", 1); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx = %v, want boom", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("Tx swallowed the panic")
				}
			}()
			db.Tx(ctx, func(tx *sql.Tx) error {
				tx.ExecContext(ctx, "INSERT INTO domains (name, created_at) VALUES ($1, $2)", "b.example", 1)
				panic("boom")
			})
		}()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM domains").Scan(&n); err != nil || n != 0 {
			t.Errorf("after rollbacks: %d domains, %v; want 0", n, err)
		}
		// The writer is still usable.
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO domains (name, created_at) VALUES ($1, $2)", "c.example", 1)
			return err
		}); err != nil {
			t.Errorf("Tx after rollbacks: %v", err)
		}
	})
}

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://u:secret@h/db", "postgres://u:xxxxx@h/db"},
		{"postgresql://u:secret@h:5432/db?sslmode=disable", "postgresql://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db?password=secret", "postgres://u@h/db?password=xxxxx"},
		{"postgres://u@h/db?sslmode=disable&password=secret", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
		{"postgres:///db?host=/run/postgresql&password=secret", "postgres:///db?host=%2Frun%2Fpostgresql&password=xxxxx"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"host=h user=u password=secret dbname=db", "host=h user=u password=xxxxx dbname=db"},
		{"host=h password = secret dbname=db", "host=h password = xxxxx dbname=db"},
		{"host=h user=u password='se cret' dbname=db", "host=h user=u password=xxxxx dbname=db"},
		{`host=h password='se\'cret' dbname=db`, "host=h password=xxxxx dbname=db"},
		{"host=h PASSWORD=secret", "host=h PASSWORD=xxxxx"},
		{"host=h user=u dbname=db", "host=h user=u dbname=db"},
	} {
		got := migrations.RedactDSN(tc.dsn)
		if got != tc.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
		if strings.Contains(got, "secret") || strings.Contains(got, "cret") {
			t.Errorf("RedactDSN(%q) = %q shows the password", tc.dsn, got)
		}
	}
	if got := migrations.RedactDSN("postgres://u:se%zzcret@h/db"); strings.Contains(got, "cret") {
		t.Errorf("RedactDSN of a bad URL = %q shows the password", got)
	}
}

func TestRedactErr(t *testing.T) {
	for _, tc := range []struct{ dsn, msg, want string }{
		{"postgres://u:hunter2@h/db", "auth hunter2 failed", "auth xxxxx failed"},
		{"postgres://u@h/db?password=hunter2", "auth hunter2 failed", "auth xxxxx failed"},
		{"host=h password=hunter2", "auth hunter2 failed", "auth xxxxx failed"},
		{"host=h password='hun ter2'", "auth hun ter2 failed", "auth xxxxx failed"},
		{`host=h password='it\'s'`, "auth it's failed", "auth xxxxx failed"},
		{"host=h password='' user=u", "auth failed", "auth failed"},
		{"postgres://u:@h/db", "auth failed", "auth failed"},
	} {
		if got := migrations.RedactErr(errors.New(tc.msg), tc.dsn); got != tc.want {
			t.Errorf("redactErr(%q, %q) = %q, want %q", tc.msg, tc.dsn, got, tc.want)
		}
	}
}

func TestOpenSQLiteMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "tidings.db")
	db, err := migrations.Open(context.Background(), migrations.DefaultConfig(path))
	if err == nil {
		db.Close()
		t.Fatal("Open in a missing directory succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("Open: %v, want the path %q in it", err, path)
	}
}

func TestOpenInvalidConfig(t *testing.T) {
	_, err := migrations.Open(context.Background(), migrations.Config{Driver: "mysql", BusyTimeout: -1})
	if err == nil {
		t.Fatal("Open of an invalid config succeeded")
	}
	for _, want := range []string{"database.driver", "database.dsn", "database.busy_timeout", "database.max_readers", "database.max_conns"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open: %v, want it to mention %s", err, want)
		}
	}
}

func pgConfig(dsn string) migrations.Config {
	c := migrations.DefaultConfig(dsn)
	c.Driver = string(migrations.Postgres)
	return c
}

// checkOpenFails opens dsn, which must fail, and checks that the error names
// the DSN without its password.
func checkOpenFails(t *testing.T, dsn, password, want string) {
	t.Helper()
	db, err := migrations.Open(context.Background(), pgConfig(dsn))
	if err == nil {
		db.Close()
		t.Fatalf("Open(%s) succeeded", migrations.RedactDSN(dsn))
	}
	msg := err.Error()
	if strings.Contains(msg, password) {
		t.Errorf("Open: %q shows the password %q", msg, password)
	}
	if red := migrations.RedactDSN(dsn); !strings.Contains(msg, red) {
		t.Errorf("Open: %q, want the redacted DSN %q in it", msg, red)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("Open: %q, want %q in it", msg, want)
	}
}

func TestOpenPostgresUnreachable(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"postgres://tidings:hunter2@127.0.0.1:1/x?connect_timeout=2",
		"postgres://tidings@127.0.0.1:1/x?connect_timeout=2&password=hunter2",
		"host=127.0.0.1 port=1 user=tidings password=hunter2 dbname=x connect_timeout=2",
		"host=127.0.0.1 port=1 user=tidings password='hun ter2' dbname=x connect_timeout=2",
	} {
		checkOpenFails(t, dsn, "hunter2", "open postgres database")
		checkOpenFails(t, dsn, "ter2", "open postgres database")
	}
	// An empty password leaves the error readable.
	checkOpenFails(t, "host=127.0.0.1 port=1 user=tidings password='' dbname=x connect_timeout=2", "hunter2", "failed to connect")
}

func randomName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func TestOpenPostgresWrongPassword(t *testing.T) {
	if os.Getenv(dbtest.EnvPostgresDSN) != "" {
		t.Skipf("needs the private cluster, which requires passwords of members of dbtest_password_auth; %s is set", dbtest.EnvPostgresDSN)
	}
	dsn := dbtest.PostgresDSN(t)
	admin := dbtest.Postgres(t) // any connection to the cluster will do
	role := randomName("pwtest_")
	ctx := context.Background()
	err := admin.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD 'right horse' IN ROLE dbtest_password_auth")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "DROP ROLE IF EXISTS "+role)
			return err
		})
	})

	// The right password gets in, so the cluster checks passwords...
	right, err := sql.Open("pgx", dsn+" user="+role+" password='right horse'")
	if err == nil {
		err = right.PingContext(ctx)
		right.Close()
	}
	if err != nil {
		t.Fatalf("connect with the right password: %v", err)
	}
	// ...and a wrong one does not, nor leaks into the error.
	checkOpenFails(t, dsn+" user="+role+" password=hunter2", "hunter2", "password authentication failed")
	checkOpenFails(t, dsn+" user="+role+" password='hunter 2'", "hunter 2", "password authentication failed")

	// A missing database on a reachable server.
	checkOpenFails(t, withDB(dsn, randomName("missing_"))+" password=hunter2", "hunter2", "does not exist")
}

// withDB returns the key=value dsn naming another database.
func withDB(dsn, db string) string { return dsn + " dbname=" + db }

func TestSQLitePragmas(t *testing.T) {
	db := dbtest.SQLite(t)
	ctx := context.Background()
	check := func(where string, q func(query string) *sql.Row) {
		for _, tc := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"synchronous", "2"},
			{"foreign_keys", "1"},
			{"busy_timeout", fmt.Sprint(migrations.DefaultBusyTimeout.Milliseconds())},
		} {
			var got string
			if err := q("PRAGMA " + tc.pragma).Scan(&got); err != nil {
				t.Errorf("%s: PRAGMA %s: %v", where, tc.pragma, err)
			} else if got != tc.want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", where, tc.pragma, got, tc.want)
			}
		}
	}
	// Several readers at once, so that more than one reader connection is
	// checked.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			rows, err := db.QueryContext(ctx, "SELECT 1") // hold a connection
			if err != nil {
				t.Error(err)
				return
			}
			defer rows.Close()
			check("reader", func(q string) *sql.Row { return db.QueryRowContext(ctx, q) })
		})
	}
	wg.Wait()
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		check("writer", func(q string) *sql.Row { return tx.QueryRowContext(ctx, q) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSQLiteReadersSeeCommittedWrites(t *testing.T) {
	db := dbtest.SQLite(t)
	ctx := context.Background()
	if err := db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO domains (name, created_at) VALUES ($1, $2)", "a.example", 1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.QueryRowContext(ctx, "SELECT name FROM domains").Scan(&name); err != nil || name != "a.example" {
		t.Errorf("reader: %q, %v", name, err)
	}
}

func TestPlaceholders(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		ctx := context.Background()
		var got string
		err := db.QueryRowContext(ctx, "SELECT CAST($1 AS TEXT) || '-' || CAST($2 AS TEXT) || '-' || CAST($1 AS TEXT)", "a", "b").Scan(&got)
		if err != nil || got != "a-b-a" {
			t.Errorf("reused $1: %q, %v; want \"a-b-a\"", got, err)
		}
		// Placeholders bind by number in both dialects, in any order, in
		// reads and inside transactions; "$1" inside a literal is text.
		var first, second, lit string
		if err := db.QueryRowContext(ctx, "SELECT CAST($2 AS TEXT), CAST($1 AS TEXT), '$1'", "one", "two").Scan(&first, &second, &lit); err != nil {
			t.Fatal(err)
		}
		if first != "two" || second != "one" || lit != "$1" {
			t.Errorf("SELECT $2, $1, '$1' = %q, %q, %q; want two, one, $1", first, second, lit)
		}
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, "SELECT CAST($3 AS TEXT) || CAST($1 AS TEXT) || CAST($2 AS TEXT)", "b", "c", "a").Scan(&first)
		}); err != nil || first != "abc" {
			t.Errorf("in a transaction: %q, %v; want abc", first, err)
		}
		// A reused placeholder in a write, and in the WHERE of a read.
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO domains (name, created_at, mail_enabled, xmpp_enabled) VALUES ($1, $2, $3, $3)", "x.example", 42, false)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var name string
		var created int64
		var mail, xmpp bool
		err = db.QueryRowContext(ctx, "SELECT name, created_at, mail_enabled, xmpp_enabled FROM domains WHERE name = $1 AND created_at = $2 AND (name = $1 OR created_at = $2)",
			"x.example", 42).Scan(&name, &created, &mail, &xmpp)
		if err != nil || name != "x.example" || created != 42 || mail || xmpp {
			t.Errorf("got %q %d %v %v, %v; want \"x.example\" 42 false false", name, created, mail, xmpp, err)
		}
	})
}

func TestNumberedPlaceholders(t *testing.T) {
	cases := []struct{ in, want string }{
		{"SELECT $1", "SELECT ?1"},
		{"UPDATE t SET a = a + $2 WHERE id = $1 AND ($10 = 0)", "UPDATE t SET a = a + ?2 WHERE id = ?1 AND (?10 = 0)"},
		{"SELECT '$1', \"$2\", $3", "SELECT '$1', \"$2\", ?3"},
		{"SELECT 'it''s $1', $1", "SELECT 'it''s $1', ?1"},
		{"SELECT $x, $", "SELECT $x, $"},
		{"no placeholders", "no placeholders"},
	}
	for i, tc := range cases {
		if got := migrations.NumberedPlaceholders(tc.in); got != tc.want {
			t.Errorf("%d: %q -> %q, want %q", i, tc.in, got, tc.want)
		}
	}
}
