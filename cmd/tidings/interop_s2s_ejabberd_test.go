package main

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInteropS2SEjabberd is the federation test of interop_s2s_test.go
// against ejabberd (Debian package ejabberd, 23.01 in bookworm) instead of
// Prosody: montague.example with romeo on ejabberd, capulet.example with
// juliet on the binary; self-signed certificates (dialback, ejabberd's
// mod_s2s_dialback) and a private CA (SASL EXTERNAL; mod_s2s_dialback not
// loaded, so ejabberd has no other way to authenticate).
//
// ejabberd runs through Debian's ejabberdctl in the foreground, as the
// ejabberd user (ejabberdctl refuses other users; as root it would go
// through su, which resets the open-files limit), from
// testdata/s2s/ejabberd.yml filled in for a temporary directory that holds
// its configuration, Mnesia spool, logs and certificate (--config-dir,
// --spool, --logs). ejabberdctl.cfg there gives the Erlang node a name and
// cookie of its own and sets ERL_DIST_PORT, so the node listens for Erlang
// distribution on a port of its own and no epmd is started or asked
// (-start_epmd false): parallel runs cannot meet. `ejabberdctl register`
// reaches the node the same way. ejabberd looks SRV records up with
// Erlang's inet_res, which the inetrc next to the configuration
// (ERL_INETRC) points at the test's DNS server alone (no /etc/hosts, no
// /etc/resolv.conf), but the addresses of SRV targets with the C
// library's getaddrinfo, which no setting of ejabberd's redirects: so
// capulet.example's SRV record names Tidings' address as its target
// (literalTarget), which getaddrinfo takes as it is.
func TestInteropS2SEjabberd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and ejabberd")
	}
	t.Parallel()
	for _, m := range []s2sMode{
		{name: "dialback", peerIP: "127.0.0.75", tidingsIP: "127.0.0.76", wantAuth: "dialback", literalTarget: true},
		{name: "external", ca: true, peerIP: "127.0.0.77", tidingsIP: "127.0.0.78", wantAuth: "external", literalTarget: true},
	} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			testS2S(t, m, interopEjabberd(t))
		})
	}
}

// ejabberdBin is Debian's ejabberd: ejabberdctl and the user it runs as.
type ejabberdBin struct {
	ctl  string
	cred *syscall.Credential // nil: we are the ejabberd user
}

// interopEjabberd finds ejabberd, or skips (fails in CI mode).
func interopEjabberd(t *testing.T) *ejabberdBin {
	t.Helper()
	ctl, err := exec.LookPath("ejabberdctl")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/ejabberdctl"); serr != nil {
			interopRequireTool(t, "ejabberd not installed (Debian: apt-get install ejabberd; scripts/test.sh does): %v", err)
		}
		ctl = "/usr/sbin/ejabberdctl"
	}
	u, err := user.Lookup("ejabberd")
	if err != nil {
		interopRequireTool(t, "no ejabberd user to run ejabberd as: %v", err)
	}
	b := &ejabberdBin{ctl: ctl}
	if me, _ := user.Current(); me != nil && me.Uid == u.Uid {
		return b
	}
	if os.Geteuid() != 0 {
		interopRequireTool(t, "ejabberdctl runs only as root or as the ejabberd user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	b.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return b
}

func (b *ejabberdBin) tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tidings-ejabberd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// command returns ejabberdctl with args, as the ejabberd user, in its own
// process group, with dir as home (Erlang's cookie file lives there).
func (b *ejabberdBin) command(dir string, args ...string) *exec.Cmd {
	args = append([]string{"--config-dir", dir, "--logs", filepath.Join(dir, "logs"), "--spool", filepath.Join(dir, "spool")}, args...)
	cmd := exec.Command(b.ctl, args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: b.cred, Setpgid: true}
	return cmd
}

func (b *ejabberdBin) start(t *testing.T, c s2sPeerConfig) {
	t.Helper()
	dir := c.dir
	dialback := "  mod_s2s_dialback: {}"
	if c.secure {
		dialback = "  # mod_s2s_dialback not loaded: SASL EXTERNAL only"
	}
	writeTemplate(t, "ejabberd.yml", filepath.Join(dir, "ejabberd.yml"), map[string]string{
		"DIR": dir, "IP": c.ip, "C2S_PORT": strconv.Itoa(c.c2sPort), "S2S_PORT": strconv.Itoa(c.s2sPort),
		"CAFILE": c.cafile, "DIALBACK": dialback,
	})
	dnsHost, dnsPort, err := net.SplitHostPort(c.dns)
	if err != nil {
		t.Fatal(err)
	}
	// inet_res only, with the test's DNS server as its one name server.
	// The order counts: resolv_conf "" after nameserver would drop it.
	writeFile(t, filepath.Join(dir, "inetrc"), []byte("{resolv_conf, \"\"}.\n{hosts_file, \"\"}.\n"+
		"{lookup, [dns]}.\n{nameserver, {"+strings.ReplaceAll(dnsHost, ".", ",")+"}, "+dnsPort+"}.\n"))
	// The node: a name and cookie of its own, distribution on a port of
	// its own on the test's address, no epmd.
	distPort := freePorts(t, c.ip, 1)[0]
	var rnd [12]byte
	rand.Read(rnd[:])
	writeFile(t, filepath.Join(dir, "ejabberdctl.cfg"), []byte(
		"ERLANG_NODE=tidings-"+hex.EncodeToString(rnd[:4])+"@"+c.ip+"\n"+
			"ERL_DIST_PORT="+strconv.Itoa(distPort)+"\n"+
			"ERL_OPTIONS=\"-env ERL_CRASH_DUMP_BYTES 0\"\n"+
			"EJABBERD_BYPASS_WARNINGS=true\n"))
	writeFile(t, filepath.Join(dir, "vm.args"), []byte(
		"-setcookie "+hex.EncodeToString(rnd[4:])+"\n"+
			"-kernel inet_dist_use_interface {"+strings.ReplaceAll(c.ip, ".", ",")+"}\n"))
	for _, sub := range []string{"logs", "spool"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if b.cred != nil {
		chownTree(t, dir, b.cred)
	}

	var output syncBuffer
	cmd := b.command(dir, "foreground")
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &ejabberdProc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { b.stop(t, p, dir) })

	addr := net.JoinHostPort(c.ip, strconv.Itoa(c.c2sPort))
	ok := eventually(30*time.Second, func() bool {
		select {
		case <-p.done:
			return true
		default:
		}
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
		}
		return err == nil
	})
	select {
	case <-p.done:
		t.Fatalf("ejabberd exited: %v\n%s\nlog:\n%s", p.err, tail(output.String()), b.logTail(dir))
	default:
	}
	if !ok {
		t.Fatalf("ejabberd's c2s port %s did not answer within 30 s\nlog:\n%s", addr, b.logTail(dir))
	}
	// The listeners may answer before the Mnesia tables exist
	// ({aborted,{no_exists,[passwd,...]}}): register until it works.
	localpart, domain, _ := strings.Cut(s2sRomeo, "@")
	var out []byte
	if !eventually(30*time.Second, func() bool {
		out, err = b.command(dir, "register", localpart, domain, s2sPassword).CombinedOutput()
		return err == nil
	}) {
		t.Fatalf("ejabberdctl register: %v\n%s", err, out)
	}
}

// ejabberdProc is a running ejabberdctl foreground.
type ejabberdProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited; err is then set
	err  error
}

// stop ends ejabberd: SIGTERM to its process group (ejabberdctl and the
// Erlang VM, which stops cleanly on it), then waits for the VM's port
// programs (erl_child_setup and what it started, each in a session of
// its own) to exit as well.
func (b *ejabberdBin) stop(t *testing.T, p *ejabberdProc, dir string) {
	done := p.done
	select {
	case <-done:
		t.Errorf("ejabberd exited early: %v\nlog:\n%s", p.err, b.logTail(dir))
		return
	default:
	}
	pgid := p.cmd.Process.Pid // Setpgid: the group is ours alone
	kids := descendants(pgid)
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
		t.Errorf("ejabberd still running 15 s after SIGTERM")
	}
	if !eventually(10*time.Second, func() bool { return !anyAlive(kids) }) {
		t.Errorf("ejabberd's processes %v outlived it", kids)
		for _, pid := range kids {
			syscall.Kill(pid, syscall.SIGKILL) // started by our ejabberd, by PID
		}
	}
	if t.Failed() {
		t.Logf("ejabberd (pid %d) log (tail):\n%s", pgid, b.logTail(dir))
	}
}

// checkAuth finds in ejabberd's log that it authenticated both links the
// way Tidings did (its names: dialback, EXTERNAL) and logged no error.
func (b *ejabberdBin) checkAuth(t *testing.T, dir, auth string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "logs", "ejabberd.log"))
	if err != nil {
		t.Error(err)
		return
	}
	log := string(data)
	if auth == "external" {
		auth = "EXTERNAL"
	}
	for _, want := range []string{
		"Accepted inbound s2s " + auth + " authentication capulet.example -> montague.example",
		"Accepted outbound s2s " + auth + " authentication montague.example -> capulet.example",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("ejabberd's log lacks %q", want)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, " [error] ") || strings.Contains(line, " [critical] ") {
			t.Errorf("ejabberd logged: %s", line)
		}
	}
}

// logTail returns the end of ejabberd's log.
func (b *ejabberdBin) logTail(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "logs", "ejabberd.log"))
	if err != nil {
		return err.Error()
	}
	return tail(string(data))
}

func tail(s string) string {
	if len(s) > 30000 {
		return s[len(s)-30000:]
	}
	return s
}

func chownTree(t *testing.T, dir string, cred *syscall.Credential) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// descendants lists the processes below pid (from /proc), deepest last.
func descendants(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, children[p]...)
		queue = append(queue, children[p]...)
	}
	return out
}

// anyAlive reports whether one of pids still runs (a zombie does not).
func anyAlive(pids []int) bool {
	for _, pid := range pids {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		if f := strings.Fields(string(stat[i+1:])); len(f) > 0 && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}
