package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidings/tidings/migrations/dbtest"
)

// The pair behind keeping bodies in the database (see the package doc):
// one 4 KiB message made durable per iteration, on SQLite with fsync on.
// BenchmarkBlobFile writes, fsyncs and renames a file, then commits a row
// naming it; BenchmarkBlobInDB commits the body in a BLOB column.

func BenchmarkBlobFile(b *testing.B) {
	db := dbtest.SQLite(b)
	dir := b.TempDir()
	ctx := context.Background()
	db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE bench_refs (id INTEGER PRIMARY KEY, file TEXT NOT NULL)")
		return err
	})
	body := bytes.Repeat([]byte("x"), 4096)
	b.SetBytes(int64(len(body)))
	i := 0
	for b.Loop() {
		i++
		name := filepath.Join(dir, fmt.Sprint(i))
		if err := durableFile(name, body); err != nil {
			b.Fatal(err)
		}
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO bench_refs (file) VALUES ($1)", name)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// durableFile is the file path's minimum: write a temporary file, fsync,
// rename, fsync the directory.
func durableFile(name string, body []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(body); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func BenchmarkBlobInDB(b *testing.B) {
	db := dbtest.SQLite(b)
	ctx := context.Background()
	db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE bench_bodies (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
		return err
	})
	body := bytes.Repeat([]byte("x"), 4096)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO bench_bodies (body) VALUES ($1)", body)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliver is a whole local delivery of a 4 KiB message into one
// INBOX: body file, header parse, row, UID, quota, commit.
func BenchmarkDeliver(b *testing.B) {
	f := newBenchFixture(b)
	body := []byte(testMessage("bench") + string(bytes.Repeat([]byte("y"), 4096-len(testMessage("bench")))))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		res, err := f.s.Deliver(f.ctx, bytes.NewReader(body), DeliverOptions{}, []Target{{User: f.juliet}})
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res[0].Err)
		}
	}
}

// TestBodyChunks: bodies larger than a chunk and than the in-memory spool
// read back exactly, sequentially and at random offsets.
func TestBodyChunks(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t))
	for _, size := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, spoolInMemory + 3*chunkSize + 17} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(i * 7)
		}
		res, err := f.s.Deliver(f.ctx, bytes.NewReader(body), DeliverOptions{}, []Target{{User: f.juliet}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res[0].Err)
		}
		_, r, err := f.s.Open(f.ctx, res[0].MailboxID, res[0].UID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, body) || r.Size() != int64(size) {
			t.Fatalf("size %d: read %d bytes, %v", size, len(got), err)
		}
		for _, off := range []int{0, size / 3, size - 5, chunkSize - 2} {
			if off < 0 || off+5 > size {
				continue
			}
			p := make([]byte, 5)
			if n, err := r.ReadAt(p, int64(off)); n != 5 || err != nil || !bytes.Equal(p, body[off:off+5]) {
				t.Fatalf("size %d: ReadAt(%d) = %d, %v", size, off, n, err)
			}
		}
		if size >= 3 {
			p := make([]byte, 10)
			if n, err := r.ReadAt(p, int64(size-3)); n != 3 || err != io.EOF {
				t.Fatalf("ReadAt past the end = %d, %v; want 3, EOF", n, err)
			}
		}
		r.Close()
	}
	if entries, _ := os.ReadDir(f.s.spoolDir); len(entries) != 0 {
		t.Errorf("spool files left: %v", entries)
	}
}
