package dbtest

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidings/tidings/migrations"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// The child tests run only in a copy of this binary started by a parent test.
const envChild = "DBTEST_CHILD"

func TestEach(t *testing.T) {
	var ran []string
	Each(t, func(t *testing.T, db *migrations.DB) {
		ran = append(ran, string(db.Dialect()))
		if !strings.HasSuffix(t.Name(), "/"+string(db.Dialect())) {
			t.Errorf("subtest %s runs on %s", t.Name(), db.Dialect())
		}
		n, err := db.Version(context.Background())
		if steps, _ := migrations.Steps(db.Dialect()); err != nil || n != len(steps) {
			t.Errorf("Version = %d, %v; want %d", n, err, len(steps))
		}
	})
	if fmt.Sprint(ran) != "[sqlite postgres]" {
		t.Errorf("ran on %v", ran)
	}
}

func TestPostgresDatabasesAreFreshAndDropped(t *testing.T) {
	var names []string
	for i := range 2 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			db := Postgres(t)
			var name string
			if err := db.QueryRowContext(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
			var n int
			if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM domains").Scan(&n); err != nil || n != 0 {
				t.Errorf("domains: %d, %v", n, err)
			}
			if err := db.Tx(context.Background(), func(tx *sql.Tx) error {
				_, err := tx.Exec("INSERT INTO domains (name, created_at) VALUES ('a.example', 1)")
				return err
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("databases %v, want two different ones", names)
	}
	for _, name := range names {
		if databaseExists(t, name) {
			t.Errorf("database %s still exists after its test", name)
		}
	}
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	var n int
	if err := getServer(t).admin.QueryRow("SELECT COUNT(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestPostgresDSNIsEmpty(t *testing.T) {
	dsn := PostgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil || n != 0 {
		t.Errorf("public tables: %d, %v; want 0", n, err)
	}
	// Left open on purpose: the clean-up drops the database anyway.
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
}

func TestWithDBName(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://u:p@h:5/old?sslmode=disable", "postgres://u:p@h:5/new?sslmode=disable"},
		{"postgres://u@h", "postgres://u@h/new"},
		{"postgres:///old?host=/run/pg&dbname=old", "postgres:///new?dbname=new&host=%2Frun%2Fpg"},
		{"host=/run/pg user=u dbname=old", "host=/run/pg user=u dbname=old dbname=new"},
	} {
		if got := withDBName(tc.dsn, "new"); got != tc.want {
			t.Errorf("withDBName(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	if !(versionOf("/usr/lib/postgresql/17/bin") > versionOf("/usr/lib/postgresql/9.6/bin")) {
		t.Error("17 <= 9.6")
	}
}

// child runs this test binary again with only the named test, which sees
// envChild set.
func child(t *testing.T, test string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), append(env, envChild+"=1")...)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestWatchdog kills a test binary that has started a cluster, and checks
// that the watchdog stops the server and removes its directory.
func TestWatchdog(t *testing.T) {
	if os.Getenv(envChild) != "" {
		t.Skip("in a child")
	}
	getServer(t) // skip as the children would
	cmd := child(t, "TestChildWaitsToBeKilled")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var dir string
	var pid int
	for sc := bufio.NewScanner(out); sc.Scan(); {
		if _, err := fmt.Sscanf(sc.Text(), "cluster %s %d", &dir, &pid); err == nil {
			break
		}
	}
	if dir == "" {
		cmd.Wait()
		t.Fatal("the child did not report its cluster")
	}
	if _, err := os.Stat(dir); err != nil || !alive(pid) {
		t.Fatalf("child's cluster in %s, PID %d: not running (%v)", dir, pid, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(time.Minute)
	for alive(pid) || exists(dir) {
		if time.Now().After(deadline) {
			t.Fatalf("a minute after the child died: postmaster %d alive: %v; %s exists: %v", pid, alive(pid), dir, exists(dir))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestChildWaitsToBeKilled(t *testing.T) {
	if os.Getenv(envChild) == "" {
		t.Skip("only in a child of TestWatchdog")
	}
	Postgres(t)
	fmt.Printf("cluster %s %d\n", pgServer.cluster.dir, pgServer.cluster.pid)
	time.Sleep(time.Minute)
	t.Fatal("not killed")
}

// TestExternalServer runs a child that uses this binary's cluster through
// TIDINGS_TEST_POSTGRES_DSN, in both DSN forms.
func TestExternalServer(t *testing.T) {
	if os.Getenv(envChild) != "" {
		t.Skip("in a child")
	}
	srv := getServer(t)
	if srv.cluster == nil {
		t.Skip("already using an external server")
	}
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres",
		RawQuery: url.Values{"host": {srv.cluster.dir}, "sslmode": {"disable"}}.Encode()}
	for _, dsn := range []string{srv.dsn("postgres"), u.String()} {
		out, err := child(t, "TestChildExternal", EnvPostgresDSN+"="+dsn).Output()
		if err != nil {
			t.Fatalf("child with %s: %v\n%s", dsn, err, out)
		}
		var names []string
		for line := range strings.Lines(string(out)) {
			if name, ok := strings.CutPrefix(line, "database "); ok {
				names = append(names, strings.TrimSpace(name))
			}
		}
		if len(names) != 2 {
			t.Fatalf("child with %s reported databases %q\n%s", dsn, names, out)
		}
		for _, name := range names {
			if databaseExists(t, name) {
				t.Errorf("child with %s: database %s left behind", dsn, name)
			}
		}
	}
}

func TestChildExternal(t *testing.T) {
	if os.Getenv(envChild) == "" {
		t.Skip("only in a child of TestExternalServer")
	}
	for _, db := range []*migrations.DB{Postgres(t), Postgres(t)} {
		var name string
		if err := db.QueryRowContext(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		fmt.Println("database " + name)
	}
	if pgServer.cluster != nil {
		t.Error("started a cluster despite " + EnvPostgresDSN)
	}
}
