package managesieve

import (
	"io"
	"net"
	"testing"
	"time"
)

// FuzzSession runs the whole command loop of a logged-in session over a
// real socket on arbitrary client bytes: the server must not panic, must
// answer, and must close once the client has finished sending.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"LISTSCRIPTS\r\nHAVESPACE \"a\" 10\r\nPUTSCRIPT \"a\" {5+}\r\nkeep;\r\nSETACTIVE \"a\"\r\nGETSCRIPT \"a\"\r\n",
		"PUTSCRIPT \"b\" \"bogus\"\r\nCHECKSCRIPT {5}\r\nmulti\r\nRENAMESCRIPT \"a\" \"c\"\r\nDELETESCRIPT \"c\"\r\n",
		"NOOP {3+}\r\ntag\r\nCAPABILITY\r\nUNAUTHENTICATE\r\nAUTHENTICATE \"PLAIN\"\r\n\"*\"\r\nLOGOUT\r\n",
		"AUTHENTICATE \"PLAIN\" \"AGp1bGlldEBjYXB1bGV0LmV4YW1wbGUAeA==\"\r\nSTARTTLS\r\n",
		"X \"unterminated {4+}\r\nNOOP\r\nPUTSCRIPT \"big\" {99999+}\r\n",
		"\x00\xff\r\n{0}\r\n\r\n\"a\" \"b\"\r\n",
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, func(s *Server) {
		s.Config.AllowInsecureAuth = true // no TLS: the bytes reach the parser as sent
		s.TLS = nil
		s.Log = nil
	})
	login := "AUTHENTICATE \"PLAIN\" \"" + plainB64("", julietAddr, pw) + "\"\r\n"
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		go func() {
			nc.Write(append([]byte(login), data...))
			nc.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(nc)
		if err != nil {
			t.Fatalf("reading: %v (after %q)", err, trunc(string(out), 200))
		}
		if len(out) == 0 {
			t.Fatal("no greeting")
		}
		if n := e.srv.Panics(); n > 0 {
			t.Fatalf("%d panics", n)
		}
	})
}
