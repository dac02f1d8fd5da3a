package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/mutf7"
	"github.com/tidings/tidings/mail/store"
)

// tidings mail import / export: Maildir (with Maildir++ folders) and mbox
// (mboxrd) in and out.
//
// Import streams: one message at a time is read and spooled (in memory up
// to 1 MiB, beyond that in an unlinked file), and messages are committed in
// batches (store.Import: one fsync per batch, bounded in count and bytes),
// so memory does not grow with the size of what is imported. The one thing
// that grows is a Maildir folder's list of file names, sorted so that UIDs
// follow delivery order.
//
// Line ends: messages are stored with CRLF (what IMAP serves and SMTP
// accepts), so import turns bare LF into CRLF; export writes LF, as Maildir
// and mbox tools on Unix expect. Export then import gives back the same
// bytes.
//
// mbox metadata: Status (R → \Seen), X-Status (A → \Answered, F → \Flagged,
// T → \Draft, D → \Deleted) and X-Keywords header fields are read into
// flags and removed from the stored message, as Dovecot does; export writes
// them back.
//
// Maildir++ folder names: .A.B is the mailbox A/B, and names are IMAP
// modified UTF-7 (internal/mutf7) both ways, as Dovecot and Courier keep
// them.

func init() {
	register("mail import", command{args: "USER PATH [--mailbox NAME]", summary: "import a Maildir (Maildir++ folders too) or an mbox file", run: mailImport})
	register("mail export", command{args: "USER PATH [--mailbox NAME] [--format maildir|mbox]", summary: "export mailboxes as a Maildir++ tree or mbox files", run: mailExport})
}

const (
	importBatch      = 256     // messages per commit
	importBatchBytes = 8 << 20 // bytes per commit
	progressEvery    = 1000
)

// openMailStore opens the message store next to the account store.
func openMailStore(e *env, s *cliStore) (*store.Store, error) {
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return store.New(s.db, s.cfg.DataDir, log)
}

func mailImport(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "mail import", "USER PATH [--mailbox NAME]")
	mailbox := f.String("mailbox", "", "mailbox for an mbox file's messages (default INBOX); for a Maildir, the parent of its folders")
	return f.run(ctx, e, args, 2, 2, func(s *cliStore, pos []string) error {
		u, err := s.User(ctx, pos[0])
		if err != nil {
			return err
		}
		if *mailbox != "" {
			if *mailbox, err = store.NormalizeMailboxName(*mailbox); err != nil {
				return usagef("--mailbox: %v", err)
			}
		}
		fi, err := os.Stat(pos[1])
		if err != nil {
			return err
		}
		st, err := openMailStore(e, s)
		if err != nil {
			return err
		}
		defer st.Close()
		im := &importer{ctx: ctx, e: e, st: st, user: u, maxSize: int64(s.cfg.SMTP.MaxMessageSize),
			skipped: map[string]int{}, boxes: map[string]bool{}}
		if fi.IsDir() {
			err = im.maildir(pos[1], *mailbox)
		} else {
			err = im.mbox(pos[1], cmp.Or(*mailbox, "INBOX"))
		}
		if err == nil {
			err = im.flush()
		}
		im.drop()
		im.summary()
		if err != nil && im.imported > 0 && !errors.Is(err, store.ErrOverQuota) {
			return fmt.Errorf("%w (imported %d messages before that)", err, im.imported)
		}
		return err
	})
}

// importer collects messages into batches and counts what happened.
type importer struct {
	ctx     context.Context
	e       *env
	st      *store.Store
	user    accounts.User
	maxSize int64

	batch      []store.ImportMessage
	batchBytes int64
	names      []string // where each batched message came from, for messages

	imported int
	skipped  map[string]int // by reason
	boxes    map[string]bool
}

// add spools one message and batches it; a message that cannot be taken
// is skipped with a warning.
// flags is called once the message has been read.
func (im *importer) add(where string, r io.Reader, mailbox string, flags func() []string, date time.Time) error {
	sp, err := im.st.Spool(r, im.maxSize)
	if errors.Is(err, store.ErrTooBig) {
		im.skip(where, fmt.Sprintf("larger than smtp.max_message_size (%d bytes)", im.maxSize))
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if why := notAMessage(sp); why != "" {
		sp.Close()
		im.skip(where, why)
		return nil
	}
	im.batch = append(im.batch, store.ImportMessage{Body: sp, Mailbox: mailbox, Flags: flags(), InternalDate: date})
	im.names = append(im.names, where)
	im.batchBytes += sp.Size()
	if len(im.batch) >= importBatch || im.batchBytes >= importBatchBytes {
		return im.flush()
	}
	return nil
}

func (im *importer) skip(where, why string) {
	fmt.Fprintf(im.e.stderr, "skipped %s: %s\n", where, why)
	im.skipped[why]++
}

// flush commits the batch. A message refused for its name or flags is
// skipped; over quota ends the import.
func (im *importer) flush() error {
	for len(im.batch) > 0 {
		before := im.imported
		n, err := im.st.Import(im.ctx, im.user, im.batch)
		for _, m := range im.batch[:n] {
			im.boxes[cmp.Or(m.Mailbox, "INBOX")] = true
			m.Body.Close()
		}
		im.imported += n
		if im.imported/progressEvery > before/progressEvery {
			fmt.Fprintf(im.e.stderr, "imported %d messages\n", im.imported)
		}
		var ie *store.ImportError
		switch {
		case err == nil:
			im.batch, im.names, im.batchBytes = im.batch[:0], im.names[:0], 0
			return nil
		case errors.Is(err, store.ErrOverQuota):
			where := im.names[n]
			im.batch, im.names = im.batch[n:], im.names[n:]
			return fmt.Errorf("%s: %w: stopped after importing %d messages", where, store.ErrOverQuota, im.imported)
		case errors.As(err, &ie):
			im.skip(im.names[n], err.Error())
			im.batch[n].Body.Close()
			im.batch, im.names = im.batch[n+1:], im.names[n+1:]
		default:
			return err
		}
	}
	im.drop()
	return nil
}

// drop releases what is still batched.
func (im *importer) drop() {
	for _, m := range im.batch {
		m.Body.Close()
	}
	im.batch, im.names, im.batchBytes = im.batch[:0], im.names[:0], 0
}

func (im *importer) summary() {
	n := 0
	for _, c := range im.skipped {
		n += c
	}
	fmt.Fprintf(im.e.stdout, "imported %d messages into %d mailboxes, skipped %d\n", im.imported, len(im.boxes), n)
	for _, why := range slices.Sorted(maps.Keys(im.skipped)) {
		fmt.Fprintf(im.e.stdout, "  %d skipped: %s\n", im.skipped[why], why)
	}
}

// notAMessage says why a spooled body is not a mail message, or "".
// A message must start with a header field; beyond that, broken MIME is
// stored as it is.
func notAMessage(sp *store.Spooled) string {
	if sp.Size() == 0 {
		return "empty"
	}
	line, err := bufio.NewReaderSize(io.LimitReader(sp.NewReader(), 4096), 4096).ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return err.Error()
	}
	name, _, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(name) == 0 {
		return "not a mail message (no header)"
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f {
			return "not a mail message (no header)"
		}
	}
	return ""
}

// --- Maildir ---

// maildirFlags maps info letters to flags (in the order Maildir sorts them).
var maildirFlags = []struct {
	letter byte
	flag   string
}{{'D', `\Draft`}, {'F', `\Flagged`}, {'R', `\Answered`}, {'S', `\Seen`}, {'T', `\Deleted`}}

// maildir imports root (cur/ new/) as INBOX, or parent when given, and its
// Maildir++ folders .A.B as A/B (below parent). Folder names are modified
// UTF-7 (RFC 3501 §5.1.3), as Dovecot and Courier write them: .Entw&APw-rfe
// is Entwürfe. A name that is not valid modified UTF-7 (written by another
// tool, e.g. ".R&D" or raw UTF-8) is taken as it is.
func (im *importer) maildir(root, parent string) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	type folder struct{ dir, mailbox string }
	var folders []folder
	if isMaildir(root) {
		folders = append(folders, folder{root, cmp.Or(parent, "INBOX")})
	}
	for _, de := range entries {
		n := de.Name()
		if !de.IsDir() || len(n) < 2 || n[0] != '.' || n == ".." {
			continue
		}
		dir := filepath.Join(root, n)
		if !isMaildir(dir) {
			continue
		}
		box := maildirFolderName(n[1:])
		if parent != "" {
			box = parent + store.Separator + box
		}
		name, err := store.NormalizeMailboxName(box)
		if err != nil {
			im.skip(dir, fmt.Sprintf("folder name: %v", err))
			continue
		}
		folders = append(folders, folder{dir, name})
	}
	if len(folders) == 0 {
		return fmt.Errorf("%s: not a Maildir (no cur/ or new/, no .Folder subdirectories)", root)
	}
	for _, fo := range folders {
		if err := im.maildirFolder(fo.dir, fo.mailbox); err != nil {
			return err
		}
	}
	return nil
}

// maildirFolderName is the mailbox of Maildir++ folder .name.
func maildirFolderName(name string) string {
	if d, err := mutf7.Decode(name); err == nil {
		name = d
	}
	return strings.ReplaceAll(name, ".", store.Separator)
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// maildirFolder imports one folder's messages, ordered by file name (which
// starts with the delivery time).
func (im *importer) maildirFolder(dir, mailbox string) error {
	keywords := readDovecotKeywords(filepath.Join(dir, "dovecot-keywords"))
	type file struct{ sub, name string }
	var files []file
	for _, sub := range []string{"new", "cur"} {
		names, err := readNames(filepath.Join(dir, sub))
		if err != nil {
			return err
		}
		for _, n := range names {
			files = append(files, file{sub, n})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	for _, fl := range files {
		path := filepath.Join(dir, fl.sub, fl.name)
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			if err != nil {
				im.skip(path, err.Error())
			}
			continue
		}
		if im.maxSize > 0 && fi.Size() > im.maxSize {
			im.skip(path, fmt.Sprintf("larger than smtp.max_message_size (%d bytes)", im.maxSize))
			continue
		}
		flags := maildirInfoFlags(fl.name, keywords)
		if fl.sub == "new" {
			flags = slices.DeleteFunc(flags, func(f string) bool { return f == `\Seen` })
		}
		r, err := os.Open(path)
		if err != nil {
			im.skip(path, err.Error())
			continue
		}
		err = im.add(path, newCRLFReader(r), mailbox, func() []string { return flags }, fi.ModTime())
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// readNames lists a directory's names; a missing directory is empty.
func readNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var names []string
	for {
		batch, err := d.Readdirnames(4096)
		for _, n := range batch {
			if !strings.HasPrefix(n, ".") {
				names = append(names, n)
			}
		}
		if errors.Is(err, io.EOF) || len(batch) == 0 {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// maildirInfoFlags reads the flags of a file name's ":2," info: upper case
// letters are system flags, lower case ones Dovecot's keywords.
func maildirInfoFlags(name string, keywords []string) []string {
	i := strings.LastIndex(name, ":2,")
	if i < 0 {
		return nil
	}
	var flags []string
	for _, c := range []byte(name[i+3:]) {
		for _, mf := range maildirFlags {
			if c == mf.letter {
				flags = append(flags, mf.flag)
			}
		}
		if c >= 'a' && c <= 'z' && int(c-'a') < len(keywords) && keywords[c-'a'] != "" {
			flags = append(flags, keywords[c-'a'])
		}
	}
	return flags
}

// readDovecotKeywords reads a dovecot-keywords file ("0 name" per line):
// index i is the keyword of letter 'a'+i.
func readDovecotKeywords(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	kw := make([]string, 26)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var i int
		var name string
		if n, _ := fmt.Sscanf(sc.Text(), "%d %s", &i, &name); n == 2 && i >= 0 && i < 26 && validKeyword(name) {
			kw[i] = name
		}
	}
	return kw
}

// validKeyword: an IMAP flag keyword (an atom without \).
func validKeyword(k string) bool {
	if k == "" || len(k) > 100 {
		return false
	}
	for _, c := range []byte(k) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// crlfReader turns bare LF into CRLF.
type crlfReader struct {
	r      *bufio.Reader
	prevCR bool
	lf     bool // an LF is owed after an inserted CR
}

func newCRLFReader(r io.Reader) *crlfReader { return &crlfReader{r: bufio.NewReaderSize(r, 32<<10)} }

func (c *crlfReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if c.lf {
			p[n], c.lf, c.prevCR = '\n', false, false
			n++
			continue
		}
		b, err := c.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b == '\n' && !c.prevCR {
			p[n], c.lf = '\r', true
			n++
			continue
		}
		p[n], c.prevCR = b, b == '\r'
		n++
	}
	return n, nil
}

// --- mbox ---

// mbox imports an mbox file (mboxrd; mboxo reads the same) into mailbox.
func (im *importer) mbox(path, mailbox string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	mr := newMboxReader(f)
	first, empty, err := mr.first()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if empty {
		return nil
	}
	if !first {
		return fmt.Errorf("%s: not an mbox file (does not start with a \"From \" line)", path)
	}
	for i := 1; ; i++ {
		msg, ok := mr.next()
		if !ok {
			break
		}
		where := fmt.Sprintf("%s message %d (line %d)", path, i, msg.line)
		if err := im.add(where, msg, mailbox, msg.flags, msg.date); err != nil {
			return err
		}
		msg.drain()
		if msg.err != nil {
			return fmt.Errorf("%s: %w", path, msg.err)
		}
	}
	return mr.err
}

// mboxReader splits an mbox file into messages, streaming.
type mboxReader struct {
	br       *bufio.Reader
	line     int    // lines read
	fromLine []byte // the separator that starts the next message; nil at the end
	err      error
}

func newMboxReader(r io.Reader) *mboxReader { return &mboxReader{br: bufio.NewReaderSize(r, 64<<10)} }

// readLine returns the next line or a piece of a long one (whole says it is
// the start of a line); nil at EOF.
func (mr *mboxReader) readLine() (line []byte, err error) {
	line, err = mr.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return line, nil
	}
	if errors.Is(err, io.EOF) && len(line) > 0 {
		err = nil
	}
	return line, err
}

// first skips blank lines at the start and reports whether a "From " line
// follows, or the file is empty.
func (mr *mboxReader) first() (found, empty bool, err error) {
	for {
		line, err := mr.readLine()
		if errors.Is(err, io.EOF) {
			return false, true, nil
		}
		if err != nil {
			return false, false, err
		}
		mr.line++
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !bytes.HasPrefix(line, []byte("From ")) {
			return false, false, nil
		}
		mr.fromLine = bytes.Clone(line)
		return true, false, nil
	}
}

// next returns the next message; read it to its end before calling again.
func (mr *mboxReader) next() (*mboxMessage, bool) {
	if mr.fromLine == nil || mr.err != nil {
		return nil, false
	}
	m := &mboxMessage{mr: mr, line: mr.line, date: parseFromLineDate(mr.fromLine), inHeader: true, atStart: true}
	mr.fromLine = nil
	return m, true
}

// mboxMessage reads one message: it unescapes >From lines, turns LF into
// CRLF, and takes Status, X-Status and X-Keywords out of the header.
type mboxMessage struct {
	mr             *mboxReader
	line           int
	date           time.Time
	out            []byte // produced, not yet read
	heldBlank      []byte // a blank line that may belong to the next separator
	atStart        bool   // the next piece starts a line
	prevCR         bool   // the last piece ended in CR (for a long line's LF)
	inHeader       bool
	skipContinued  bool // dropping a metadata field's continuation lines
	status, xs, kw string
	done           bool
	err            error
}

func (m *mboxMessage) Read(p []byte) (int, error) {
	for len(m.out) == 0 {
		if m.done {
			return 0, io.EOF
		}
		m.step()
	}
	n := copy(p, m.out)
	m.out = m.out[n:]
	return n, nil
}

// drain reads the rest of the message (after a skipped one).
func (m *mboxMessage) drain() {
	for !m.done {
		m.out = m.out[:0]
		m.step()
	}
	m.out = nil
}

// step reads one line (or piece) and appends what it contributes to out.
func (m *mboxMessage) step() {
	m.out = m.out[:0]
	line, err := m.mr.readLine()
	if errors.Is(err, io.EOF) {
		m.done = true // the held blank line is the mbox's separator
		return
	}
	if err != nil {
		m.err, m.mr.err, m.done = err, err, true
		return
	}
	start := m.atStart
	m.atStart = line[len(line)-1] == '\n'
	if start {
		m.mr.line++
	}
	if start && m.heldBlank != nil && bytes.HasPrefix(line, []byte("From ")) {
		m.mr.fromLine = bytes.Clone(line)
		m.done = true
		return
	}
	if m.heldBlank != nil {
		m.out = append(m.out, m.heldBlank...)
		m.heldBlank = nil
	}
	if start {
		if isBlank(line) {
			m.inHeader, m.skipContinued = false, false
			m.heldBlank = append(m.heldBlank[:0], "\r\n"...)
			return
		}
		if m.inHeader && m.metadata(line) {
			return
		}
		if rest := bytes.TrimLeft(line, ">"); len(rest) < len(line) && bytes.HasPrefix(rest, []byte("From ")) {
			line = line[1:]
		}
	} else if m.skipContinued {
		return
	}
	m.appendCRLF(line)
}

// metadata consumes the mbox metadata fields of the header.
func (m *mboxMessage) metadata(line []byte) bool {
	if line[0] == ' ' || line[0] == '\t' {
		return m.skipContinued
	}
	m.skipContinued = false
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return false
	}
	v := string(bytes.TrimSpace(value))
	switch strings.ToLower(string(name)) {
	case "status":
		m.status += v
	case "x-status":
		m.xs += v
	case "x-keywords":
		m.kw += " " + v
	default:
		return false
	}
	m.skipContinued = true
	return true
}

func (m *mboxMessage) appendCRLF(line []byte) {
	if line[len(line)-1] == '\n' && (len(line) == 1 && !m.prevCR || len(line) > 1 && line[len(line)-2] != '\r') {
		m.out = append(append(m.out, line[:len(line)-1]...), "\r\n"...)
	} else {
		m.out = append(m.out, line...)
	}
	m.prevCR = line[len(line)-1] == '\r'
}

func isBlank(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// flags are the message's flags from its Status, X-Status and X-Keywords.
func (m *mboxMessage) flags() []string {
	var flags []string
	if strings.Contains(m.status, "R") {
		flags = append(flags, `\Seen`)
	}
	for _, x := range []struct {
		c    string
		flag string
	}{{"A", `\Answered`}, {"F", `\Flagged`}, {"T", `\Draft`}, {"D", `\Deleted`}} {
		if strings.Contains(m.xs, x.c) {
			flags = append(flags, x.flag)
		}
	}
	for _, k := range strings.FieldsFunc(m.kw, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		if validKeyword(k) {
			flags = append(flags, k)
		}
	}
	return flags
}

// parseFromLineDate reads the date of "From sender Mon Jan  2 15:04:05 2006"
// (with or without a zone); zero if there is none.
func parseFromLineDate(line []byte) time.Time {
	f := strings.Fields(string(line))
	if len(f) < 3 {
		return time.Time{}
	}
	f = f[2:]
	for _, layout := range []string{
		"Mon Jan 2 15:04:05 2006", "Mon Jan 2 15:04:05 -0700 2006", "Mon Jan 2 15:04:05 2006 -0700",
		"Mon Jan 2 15:04:05 MST 2006", "Mon Jan 2 15:04 2006",
	} {
		n := len(strings.Fields(layout))
		if len(f) < n {
			continue
		}
		if t, err := time.Parse(layout, strings.Join(f[:n], " ")); err == nil {
			return t
		}
	}
	return time.Time{}
}

// --- export ---

func mailExport(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "mail export", "USER PATH [--mailbox NAME] [--format maildir|mbox]")
	mailbox := f.String("mailbox", "", "export only this mailbox")
	format := f.String("format", "maildir", "maildir: a Maildir++ tree in PATH; mbox: PATH/NAME.mbox per mailbox (with --mailbox, PATH is the file)")
	return f.run(ctx, e, args, 2, 2, func(s *cliStore, pos []string) error {
		if *format != "maildir" && *format != "mbox" {
			return usagef("--format: maildir or mbox, not %q", *format)
		}
		u, err := s.User(ctx, pos[0])
		if err != nil {
			return err
		}
		st, err := openMailStore(e, s)
		if err != nil {
			return err
		}
		defer st.Close()
		var boxes []store.Mailbox
		if *mailbox != "" {
			mb, err := st.Mailbox(ctx, u.ID, *mailbox)
			if err != nil {
				return err
			}
			boxes = []store.Mailbox{mb}
		} else if boxes, err = st.Mailboxes(ctx, u.ID); err != nil {
			return err
		}
		ex := &exporter{ctx: ctx, e: e, st: st}
		for _, mb := range boxes {
			var err error
			if *format == "mbox" {
				path := filepath.Join(pos[1], filepath.FromSlash(mb.Name)+".mbox")
				if *mailbox != "" {
					path = pos[1]
				}
				err = ex.mbox(mb, path)
			} else {
				err = ex.maildir(mb, maildirPath(pos[1], mb.Name))
			}
			if err != nil {
				return fmt.Errorf("%s: %w (exported %d messages before that)", mb.Name, err, ex.n)
			}
		}
		fmt.Fprintf(e.stdout, "exported %d messages from %d mailboxes\n", ex.n, len(boxes))
		return nil
	})
}

// maildirPath is where a mailbox goes in a Maildir++ tree: INBOX at the
// root, A/B in .A.B (a dot in a name becomes _: Maildir++ has no escape),
// names in modified UTF-7 as Dovecot writes them (Entwürfe in .Entw&APw-rfe).
func maildirPath(root, name string) string {
	if name == "INBOX" {
		return root
	}
	parts := strings.Split(name, store.Separator)
	for i, p := range parts {
		parts[i] = mutf7.Encode(strings.ReplaceAll(p, ".", "_"))
	}
	return filepath.Join(root, "."+strings.Join(parts, "."))
}

type exporter struct {
	ctx context.Context
	e   *env
	st  *store.Store
	n   int
}

// each calls fn for every message of mb by ascending UID, a page at a time.
func (ex *exporter) each(mb store.Mailbox, fn func(m store.Message, body *store.Body) error) error {
	for from := uint32(1); ; {
		list, err := ex.st.List(ex.ctx, mb.ID, []store.UIDRange{{Start: from, Stop: from + 999}}, false)
		if err != nil {
			return err
		}
		for _, m := range list {
			_, body, err := ex.st.Open(ex.ctx, mb.ID, m.UID)
			if errors.Is(err, store.ErrNoMessage) {
				continue // expunged meanwhile
			}
			if err != nil {
				return err
			}
			err = fn(m, body)
			body.Close()
			if err != nil {
				return err
			}
			ex.n++
			if ex.n%progressEvery == 0 {
				fmt.Fprintf(ex.e.stderr, "exported %d messages\n", ex.n)
			}
		}
		if from+999 >= mb.UIDNext || from+999 < from {
			return nil
		}
		from += 1000
	}
}

func (ex *exporter) maildir(mb store.Mailbox, dir string) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	var keywords []string
	err := ex.each(mb, func(m store.Message, body *store.Body) error {
		var info []byte
		for _, mf := range maildirFlags {
			if slices.Contains(m.Flags, mf.flag) {
				info = append(info, mf.letter)
			}
		}
		var kw []byte
		for _, fl := range m.Flags {
			if strings.HasPrefix(fl, `\`) {
				continue
			}
			i := slices.Index(keywords, fl)
			if i < 0 && len(keywords) < 26 {
				keywords, i = append(keywords, fl), len(keywords)
			}
			if i < 0 {
				fmt.Fprintf(ex.e.stderr, "%s UID %d: keyword %q dropped (Maildir holds 26)\n", mb.Name, m.UID, fl)
				continue
			}
			kw = append(kw, byte('a'+i))
		}
		slices.Sort(kw)
		name := fmt.Sprintf("%d.U%dV%d.tidings:2,%s%s", m.InternalDate.Unix(), m.UID, mb.UIDValidity, info, kw)
		tmp := filepath.Join(dir, "tmp", name)
		if err := writeExportFile(tmp, false, func(w *bufio.Writer) error {
			lw := &lfWriter{w: w}
			_, err := io.Copy(lw, body)
			lw.flushCR()
			return err
		}); err != nil {
			return err
		}
		if err := os.Chtimes(tmp, m.InternalDate, m.InternalDate); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(dir, "cur", name))
	})
	if err != nil || len(keywords) == 0 {
		return err
	}
	return writeExportFile(filepath.Join(dir, "dovecot-keywords"), true, func(w *bufio.Writer) error {
		for i, k := range keywords {
			fmt.Fprintf(w, "%d %s\n", i, k)
		}
		return nil
	})
}

func (ex *exporter) mbox(mb store.Mailbox, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeExportFile(path, true, func(w *bufio.Writer) error {
		return ex.each(mb, func(m store.Message, body *store.Body) error {
			fmt.Fprintf(w, "From MAILER-DAEMON %s\n", m.InternalDate.UTC().Format("Mon Jan _2 15:04:05 2006"))
			status, xs := "O", ""
			if slices.Contains(m.Flags, `\Seen`) {
				status = "RO"
			}
			for _, x := range []struct{ c, flag string }{{"A", `\Answered`}, {"F", `\Flagged`}, {"T", `\Draft`}, {"D", `\Deleted`}} {
				if slices.Contains(m.Flags, x.flag) {
					xs += x.c
				}
			}
			fmt.Fprintf(w, "Status: %s\n", status)
			if xs != "" {
				fmt.Fprintf(w, "X-Status: %s\n", xs)
			}
			var kw []string
			for _, fl := range m.Flags {
				if !strings.HasPrefix(fl, `\`) {
					kw = append(kw, fl)
				}
			}
			if len(kw) > 0 {
				fmt.Fprintf(w, "X-Keywords: %s\n", strings.Join(kw, " "))
			}
			return writeMboxBody(w, body)
		})
	})
}

// writeMboxBody writes a message with LF line ends, >From-escaped
// (mboxrd), ending in a newline and the blank separator line.
func writeMboxBody(w *bufio.Writer, body io.Reader) error {
	br := bufio.NewReaderSize(body, 64<<10)
	lw := &lfWriter{w: w}
	start, last := true, byte('\n')
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if start {
				if rest := bytes.TrimLeft(line, ">"); bytes.HasPrefix(rest, []byte("From ")) {
					w.WriteByte('>')
				}
			}
			lw.Write(line)
			start, last = line[len(line)-1] == '\n', line[len(line)-1]
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	lw.flushCR()
	if last != '\n' {
		w.WriteByte('\n')
	}
	return w.WriteByte('\n')
}

// lfWriter turns CRLF into LF.
type lfWriter struct {
	w  *bufio.Writer
	cr bool // a CR is held back
}

func (l *lfWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		if l.cr {
			l.cr = false
			if b != '\n' {
				l.w.WriteByte('\r')
			}
		}
		if b == '\r' {
			l.cr = true
			continue
		}
		if err := l.w.WriteByte(b); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (l *lfWriter) flushCR() {
	if l.cr {
		l.w.WriteByte('\r')
		l.cr = false
	}
}

// writeExportFile creates path and writes it through a buffer, synced if sync
// (not each Maildir message: an interrupted export is simply run again).
func writeExportFile(path string, sync bool, fn func(w *bufio.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 64<<10)
	err = fn(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
