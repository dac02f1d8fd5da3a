// Package dbtest gives store tests fresh, fully migrated databases in both
// dialects: an SQLite file in the test's temporary directory, and a database
// on a real PostgreSQL server.
//
// Every package that uses PostgreSQL through this package needs
//
//	func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
//
// and then writes its store tests once for both dialects:
//
//	func TestThing(t *testing.T) {
//		dbtest.Each(t, func(t *testing.T, db *migrations.DB) { ... })
//	}
//
// # The PostgreSQL server
//
// On first use (once per test binary) the package starts a private,
// throw-away PostgreSQL cluster: initdb into a short-named directory (initdb
// --auth=trust -U postgres -E UTF8 --locale=C --no-sync), then pg_ctl start
// with fsync off and an empty listen_addresses, so that the server listens
// only on a Unix socket in that directory. No TCP port is used, so the
// binaries of packages that go test runs in parallel never collide. Tests
// connect as user postgres over the socket. Every call to [Postgres] or
// [PostgresDSN] creates a new database with a unique name (CREATE DATABASE)
// and drops it when the test ends. The C locale makes text ordering byte
// order, as in SQLite.
//
// The directory is /dev/shm/tpg* when /dev/shm is a memory file system with
// at least 1 GiB free, else /tmp/tpg*: CREATE DATABASE writes some
// megabytes in hundreds of files, which takes ~20 ms in memory and can take
// ten times that on a slow disk. The path must be short: the socket's,
// <dir>/.s.PGSQL.5432, must fit in ~107 bytes.
//
// The binaries are the newest /usr/lib/postgresql/*/bin (Debian's layout),
// else `pg_config --bindir`, else initdb on PATH. initdb and postgres refuse
// to run as root, so when the tests run as root (CI containers) initdb and
// pg_ctl run as the postgres user through runuser, and the cluster directory
// is owned by that user.
//
// [Main] stops the cluster after the tests, by the data directory (pg_ctl
// stop -m fast) or, failing that, by the PID the server recorded; it never
// kills processes by name. It then removes the directory. So that a test
// binary that dies without reaching the end of Main (a panic, a timeout,
// SIGKILL) does not leak a server, a small shell watchdog started with the
// cluster waits for the binary's end (EOF on a pipe only the binary holds)
// and then does the same stop and removal.
//
// The server requires a password (scram-sha-256) from roles that are
// members of the NOLOGIN role "dbtest_password_auth", and trusts everyone
// else; tests of authentication failures create such a role.
//
// # Environment
//
//   - TIDINGS_TEST_POSTGRES=require: if PostgreSQL cannot be used, the test
//     fails with the reason. CI sets this.
//   - TIDINGS_TEST_POSTGRES unset: as above, except that the PostgreSQL
//     tests are skipped, with the reason, when no PostgreSQL binaries are
//     installed.
//   - TIDINGS_TEST_POSTGRES=skip: skip the PostgreSQL tests.
//   - TIDINGS_TEST_POSTGRES_DSN=<dsn>: use that running server instead of
//     starting one. Its user must be allowed to CREATE DATABASE (and, for
//     the clean-up, DROP DATABASE ... WITH (FORCE), PostgreSQL 13 or newer).
package dbtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tidings/tidings/migrations"
)

// Environment variables read by this package.
const (
	EnvPostgres    = "TIDINGS_TEST_POSTGRES"
	EnvPostgresDSN = "TIDINGS_TEST_POSTGRES_DSN"
)

// passwordRole is the group role whose members must authenticate with a
// password on the private cluster.
const passwordRole = "dbtest_password_auth"

var (
	mainRunning atomic.Bool

	pgOnce   sync.Once
	pgServer *server // nil when PostgreSQL is unavailable
	pgErr    error   // why pgServer is nil
	pgSkip   bool    // pgErr only means "not installed"
)

// Main runs the tests of a package and then stops the PostgreSQL cluster, if
// one was started, and removes its files. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
//
// If the clean-up fails, Main reports it on stderr and returns a non-zero
// code.
func Main(m *testing.M) int {
	mainRunning.Store(true)
	code := m.Run()
	mainRunning.Store(false)
	// Wait for a start that is still running (a test that did not wait for
	// its goroutines), so that nothing is left behind.
	pgOnce.Do(func() { pgErr = errors.New("dbtest: Main has returned") })
	if pgServer != nil {
		if err := pgServer.close(); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: stopping PostgreSQL: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Each runs fn twice, as the subtests "sqlite" and "postgres", each time with
// a fresh, fully migrated database that is closed when the subtest ends.
func Each(t *testing.T, fn func(t *testing.T, db *migrations.DB)) {
	t.Helper()
	t.Run(string(migrations.SQLite), func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run(string(migrations.Postgres), func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite returns a fresh, fully migrated SQLite database in t.TempDir(),
// closed when the test ends.
func SQLite(t testing.TB) *migrations.DB {
	t.Helper()
	return open(t, migrations.DefaultConfig(filepath.Join(t.TempDir(), "tidings.db")))
}

// Postgres returns a fresh, fully migrated database on the test binary's
// PostgreSQL server, closed and dropped when the test ends. It skips or fails
// the test if PostgreSQL is not available (see the package documentation).
func Postgres(t testing.TB) *migrations.DB {
	t.Helper()
	c := migrations.DefaultConfig(newDatabase(t))
	c.Driver = string(migrations.Postgres)
	return open(t, c)
}

// PostgresDSN creates a fresh, empty (not migrated) database on the test
// binary's PostgreSQL server and returns its connection string, for tests
// that run the migrations or the command line themselves. The database is
// dropped when the test ends, even if connections to it are still open.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	return newDatabase(t)
}

func open(t testing.TB, c migrations.Config) *migrations.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := migrations.Open(ctx, c)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("dbtest: close %s: %v", db, err)
		}
	})
	return db
}

// newDatabase creates an empty database and returns its DSN.
func newDatabase(t testing.TB) string {
	t.Helper()
	srv := getServer(t)
	var b [8]byte
	rand.Read(b[:])
	name := "dbtest_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := srv.admin.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		t.Fatalf("dbtest: create PostgreSQL database on %s: %v", srv.name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := srv.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			t.Logf("dbtest: drop PostgreSQL database %s on %s: %v", name, srv.name, err)
		}
	})
	return srv.dsn(name)
}

// getServer returns the PostgreSQL server, starting it on first use, or skips
// or fails t.
func getServer(t testing.TB) *server {
	t.Helper()
	mode := os.Getenv(EnvPostgres)
	switch mode {
	case "", "require":
	case "skip":
		t.Skipf("dbtest: PostgreSQL tests skipped (%s=skip)", EnvPostgres)
	default:
		t.Fatalf("dbtest: %s=%q: want \"require\", \"skip\" or unset", EnvPostgres, mode)
	}
	if !mainRunning.Load() {
		t.Fatal("dbtest: PostgreSQL tests need `func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }` in the package")
	}
	pgOnce.Do(func() { pgServer, pgSkip, pgErr = startServer() })
	if pgErr != nil {
		if pgSkip && mode != "require" {
			t.Skipf("%v (set %s=require to make this an error)", pgErr, EnvPostgres)
		}
		t.Fatal(pgErr)
	}
	return pgServer
}

// server is a PostgreSQL server that tests may create databases on.
type server struct {
	admin   *sql.DB // connection for CREATE/DROP DATABASE
	dsn     func(dbname string) string
	name    string   // for messages, password redacted
	cluster *cluster // nil for a server given by EnvPostgresDSN
}

func (s *server) close() error {
	err := s.admin.Close()
	if s.cluster != nil {
		err = errors.Join(err, s.cluster.stop())
	}
	return err
}

// startServer connects to EnvPostgresDSN or starts a private cluster. skip
// reports that err only means no PostgreSQL is installed.
func startServer() (_ *server, skip bool, err error) {
	if dsn := os.Getenv(EnvPostgresDSN); dsn != "" {
		srv := &server{name: migrations.RedactDSN(dsn), dsn: func(db string) string { return withDBName(dsn, db) }}
		if srv.admin, err = connect(dsn); err != nil {
			return nil, false, fmt.Errorf("dbtest: PostgreSQL server %s=%s: %v", EnvPostgresDSN, srv.name, err)
		}
		return srv, false, nil
	}
	bin, err := findBinaries()
	if err != nil {
		return nil, true, err
	}
	c, err := startCluster(bin)
	if err != nil {
		return nil, false, fmt.Errorf("dbtest: start PostgreSQL from %s: %w", bin, err)
	}
	srv := &server{cluster: c, name: "the cluster in " + c.dir, dsn: c.dsn}
	if srv.admin, err = connect(c.dsn("postgres")); err == nil {
		_, err = srv.admin.Exec(`CREATE ROLE ` + passwordRole + ` NOLOGIN`)
	}
	if err != nil {
		err = fmt.Errorf("dbtest: PostgreSQL in %s: %v%s", c.dir, err, c.logTail())
		if srv.admin != nil {
			srv.admin.Close()
		}
		return nil, false, errors.Join(err, c.stop())
	}
	return srv, false, nil
}

func connect(dsn string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// withDBName returns dsn (URL or key=value form) naming database db.
func withDBName(dsn, db string) string {
	if strings.Contains(dsn, "://") {
		if u, err := url.Parse(dsn); err == nil {
			u.Path = "/" + db
			u.RawPath = ""
			q := u.Query()
			if q.Has("dbname") {
				q.Set("dbname", db)
				u.RawQuery = q.Encode()
			}
			return u.String()
		}
	}
	return dsn + " dbname=" + db // later keywords win
}

// findBinaries returns the directory holding initdb, pg_ctl and postgres.
func findBinaries() (string, error) {
	has := func(dir string) bool {
		for _, f := range []string{"initdb", "pg_ctl", "postgres"} {
			if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	return "", errors.New("dbtest: no PostgreSQL server binaries (initdb, pg_ctl, postgres) in /usr/lib/postgresql/*/bin, `pg_config --bindir` or PATH; install the postgresql package or set " + EnvPostgresDSN)
}

// versionOf extracts the major version from /usr/lib/postgresql/<v>/bin.
func versionOf(bindir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(bindir)), 64)
	return v
}

// cluster is a private PostgreSQL server listening on a Unix socket in dir.
type cluster struct {
	bin     string // directory of the binaries
	dir     string // socket directory; holds data/ and log
	runuser string // when root: runuser, to run as the postgres user
	pid     int    // of the postmaster, once started

	watchdog     *exec.Cmd
	watchdogPipe *os.File // closing it (or exiting) ends the watchdog
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }
func (c *cluster) log() string  { return filepath.Join(c.dir, "log") }

func (c *cluster) dsn(dbname string) string {
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", c.dir, dbname)
}

// command runs a PostgreSQL binary, as the postgres user when we are root.
func (c *cluster) command(prog string, args ...string) *exec.Cmd {
	name := filepath.Join(c.bin, prog)
	if c.runuser != "" {
		args = append([]string{"-u", "postgres", "--", name}, args...)
		name = c.runuser
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	// pg_ctl's server redirects its output to the log, but never let a
	// stray holder of the output pipe hang us.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (c *cluster) run(prog string, args ...string) error {
	out, err := c.command(prog, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// logTail returns the end of the server log, for error messages.
func (c *cluster) logTail() string {
	b, err := os.ReadFile(c.log())
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return "\nserver log " + c.log() + " (tail):\n" + strings.Join(lines, "\n")
}

// watchdogScript waits for EOF on stdin, which comes when the test binary
// closes the pipe or dies, and then stops the cluster by its data directory
// (or the PID recorded in it) and removes the cluster's directory.
// $1: cluster directory, $2: pg_ctl, $3: runuser or "".
const watchdogScript = `trap '' HUP INT TERM
while read -r _; do :; done
data="$1/data"
if [ -f "$data/postmaster.pid" ]; then
	pid=$(head -n 1 "$data/postmaster.pid")
	if [ -n "$3" ]; then
		"$3" -u postgres -- "$2" stop -D "$data" -m fast -w -t 30
	else
		"$2" stop -D "$data" -m fast -w -t 30
	fi || { kill -QUIT "$pid"; sleep 3; kill -KILL "$pid"; }
fi >/dev/null 2>&1
rm -rf "$1"
`

func startCluster(bin string) (c *cluster, err error) {
	c = &cluster{bin: bin}
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and initdb refuses root: need the system user \"postgres\" to run it as: %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		if c.runuser, err = exec.LookPath("runuser"); err != nil {
			return nil, fmt.Errorf("running as root, and initdb refuses root: need runuser (util-linux) to run it as postgres: %v", err)
		}
	}
	if c.dir, err = os.MkdirTemp(clusterParent(), "tpg"); err != nil {
		return nil, err
	}
	if uid >= 0 {
		if err := os.Chown(c.dir, uid, gid); err != nil {
			os.RemoveAll(c.dir)
			return nil, err
		}
	}
	if err := os.Chmod(c.dir, 0o755); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	if err := c.startWatchdog(); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.stop())
		}
	}()

	if err := c.run("initdb", "-D", c.data(), "--auth=trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return c, err
	}
	hba := filepath.Join(c.data(), "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		return c, err
	}
	rule := "# dbtest: members of " + passwordRole + " must give their password.\n" +
		"local all +" + passwordRole + " scram-sha-256\n"
	if err := os.WriteFile(hba, append([]byte(rule), old...), 0o600); err != nil {
		return c, err
	}
	opts := "-k " + c.dir + " -c listen_addresses='' -c fsync=off -c max_connections=200"
	if err := c.run("pg_ctl", "start", "-w", "-t", "60", "-D", c.data(), "-l", c.log(), "-o", opts); err != nil {
		return c, fmt.Errorf("%v%s", err, c.logTail())
	}
	if c.pid, err = readPID(c.data()); err != nil {
		return c, err
	}
	return c, nil
}

// readPID returns the postmaster's PID from the data directory.
func readPID(data string) (int, error) {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s/postmaster.pid: bad PID %q", data, first)
	}
	return pid, nil
}

// clusterParent returns the folder to create the cluster's directory in.
// It must have a short path: the socket path, <dir>/.s.PGSQL.5432, must fit
// in ~107 bytes (so not os.TempDir(), which may be long).
func clusterParent() string {
	const shm, tmpfsMagic = "/dev/shm", 0x01021994
	var st syscall.Statfs_t
	if err := syscall.Statfs(shm, &st); err == nil && st.Type == tmpfsMagic &&
		st.Bavail*uint64(st.Bsize) >= 1<<30 && syscall.Access(shm, 2 /* W_OK */) == nil {
		return shm
	}
	return "/tmp"
}

func (c *cluster) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	c.watchdog = exec.Command("/bin/sh", "-c", watchdogScript, "dbtest-watchdog",
		c.dir, filepath.Join(c.bin, "pg_ctl"), c.runuser)
	c.watchdog.Stdin = r // stdout and stderr: /dev/null, so go test never waits for it
	c.watchdog.Dir = "/"
	if err := c.watchdog.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start watchdog: %v", err)
	}
	c.watchdogPipe = w
	return nil
}

// stop stops the server (pg_ctl stop -m fast; failing that, SIGQUIT and
// then SIGKILL to the recorded PID), removes the directory and ends the
// watchdog.
func (c *cluster) stop() error {
	var errs []error
	pid := c.pid
	if pid == 0 {
		pid, _ = readPID(c.data())
	}
	if pid > 0 {
		if err := c.run("pg_ctl", "stop", "-D", c.data(), "-m", "fast", "-w", "-t", "30"); err != nil && alive(pid) {
			errs = append(errs, err)
			if err := kill(pid); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	if c.watchdogPipe != nil {
		c.watchdogPipe.Close()
		done := make(chan error, 1)
		go func() { done <- c.watchdog.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("watchdog: %v", err))
			}
		case <-time.After(time.Minute):
			errs = append(errs, errors.New("watchdog did not exit"))
		}
		c.watchdogPipe = nil
	}
	return errors.Join(errs...)
}

// alive reports whether process pid exists and is not a zombie (which an
// init that is slow to reap would leave behind).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if runtime.GOOS != "linux" {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// kill ends the postmaster by PID: immediate shutdown, then SIGKILL.
func kill(pid int) error {
	for _, sig := range []syscall.Signal{syscall.SIGQUIT, syscall.SIGKILL} {
		if err := syscall.Kill(pid, sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return nil
			}
			return fmt.Errorf("kill %d: %v", pid, err)
		}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if !alive(pid) {
				return nil
			}
		}
	}
	return fmt.Errorf("PostgreSQL (PID %d) survived SIGKILL", pid)
}
