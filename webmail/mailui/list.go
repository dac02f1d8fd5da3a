package mailui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/webmail/web"
)

// folder is one entry of the folder list.
type folder struct {
	Name       string // the mailbox name
	Label      string // its last level, for people ("Inbox" for INBOX)
	Depth      int    // hierarchy level from 0
	URL        string
	SpecialUse string
	Messages   int
	Unseen     int
	Current    bool
}

// folders lists the user's mailboxes with their counts, INBOX first.
func (u *ui) folders(ctx context.Context, c *web.Ctx, current string) ([]folder, error) {
	if err := u.a.Store.EnsureDefaults(ctx, c.User.ID); err != nil {
		return nil, err
	}
	sts, err := u.a.Store.MailboxCounts(ctx, c.User.ID)
	if err != nil {
		return nil, err
	}
	out := make([]folder, 0, len(sts))
	var rest []folder
	for _, s := range sts {
		f := folder{Name: s.Name, Label: folderLabel(s.Name), Depth: strings.Count(s.Name, store.Separator), URL: boxURL(s.Name),
			SpecialUse: s.SpecialUse, Messages: s.Messages, Unseen: s.Unseen, Current: s.Name == current}
		if s.Name == "INBOX" || strings.HasPrefix(s.Name, "INBOX"+store.Separator) {
			out = append(out, f)
		} else {
			rest = append(rest, f)
		}
	}
	return append(out, rest...), nil
}

// folderLabel is the last level of a mailbox name ("Inbox" for INBOX).
func folderLabel(name string) string {
	if name == "INBOX" {
		return "Inbox"
	}
	if i := strings.LastIndex(name, store.Separator); i >= 0 {
		return name[i+1:]
	}
	return name
}

// boxTitle is a mailbox name for headings ("Inbox", "Work / Projects").
func boxTitle(name string) string {
	if name == "INBOX" {
		return "Inbox"
	}
	return strings.ReplaceAll(name, store.Separator, " / ")
}

// foldersData is the folder list fragment's data.
type foldersData struct {
	Folders []folder
	Current string
}

func (u *ui) foldersFragment(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	current := r.URL.Query().Get("box")
	fs, err := u.folders(r.Context(), c, current)
	if err != nil {
		return err
	}
	return c.Fragment(w, u.pages, "list.html", "folders", foldersData{Folders: fs, Current: current})
}

// row is one message of the list.
type row struct {
	UID                              uint32
	URL                              string
	From, FromFull, Subject          string
	Date                             time.Time
	Size                             int64
	Seen, Flagged, Answered, IsDraft bool
}

// listQuery is the list's view state, kept in its URL.
type listQuery struct {
	Sort   string // date, from, subject, size
	Order  string // asc, desc
	Q      string
	Unread bool
	Page   int // from 1
}

func readListQuery(v url.Values) listQuery {
	q := listQuery{Sort: v.Get("sort"), Order: v.Get("order"), Q: strings.TrimSpace(v.Get("q")), Unread: v.Get("unread") == "1"}
	switch q.Sort {
	case "from", "to", "subject", "size":
	default:
		q.Sort = "date"
	}
	if q.Order != "asc" && q.Order != "desc" {
		q.Order = "desc"
		if q.Sort == "from" || q.Sort == "to" || q.Sort == "subject" {
			q.Order = "asc"
		}
	}
	if len(q.Q) > 200 {
		q.Q = q.Q[:200]
	}
	q.Page, _ = strconv.Atoi(v.Get("page"))
	q.Page = max(q.Page, 1)
	return q
}

// url renders the query for box, changed by fn.
func (q listQuery) url(box string, fn func(*listQuery)) string {
	if fn != nil {
		fn(&q)
	}
	v := url.Values{}
	if q.Sort != "date" {
		v.Set("sort", q.Sort)
	}
	def := readListQuery(url.Values{"sort": {q.Sort}}).Order
	if q.Order != def {
		v.Set("order", q.Order)
	}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.Unread {
		v.Set("unread", "1")
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if len(v) == 0 {
		return boxURL(box)
	}
	return boxURL(box) + "?" + v.Encode()
}

// column is a sortable column header.
type column struct {
	Key, Label, URL string
	Class           string
	Sorted          string // "ascending", "descending" or "" (aria-sort)
}

// listData is the list page's data.
type listData struct {
	foldersData
	Box        store.Mailbox
	Title      string
	BoxURL     string
	ListURL    string // this page, for refreshes and "back"
	Query      listQuery
	Columns    []column
	Rows       []row
	Total      int
	Page       int
	Pages      int
	First      int // 1-based index of the first row shown
	Last       int
	PrevURL    string
	NextURL    string
	AllURL     string // the list without the search
	IsTrash    bool
	IsDrafts   bool
	Targets    []folder // where messages can move
	ShowFolder bool
}

func (u *ui) list(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	c.Nav = "mail"
	box, err := u.mailbox(r, c)
	if err != nil {
		return err
	}
	d, err := u.listData(r.Context(), c, box, readListQuery(r.URL.Query()))
	if err != nil {
		return err
	}
	if isHTMX(r, "message-list") {
		return c.Fragment(w, u.pages, "list.html", "messages", d)
	}
	return c.Render(w, u.pages, "list.html", d.Title, d)
}

func (u *ui) listData(ctx context.Context, c *web.Ctx, box store.Mailbox, q listQuery) (*listData, error) {
	size := u.a.Config().PageSize
	pq := store.PageQuery{Sort: store.PageSort(q.Sort), Desc: q.Order == "desc", Offset: (q.Page - 1) * size, Limit: size,
		Search: q.Q, Unseen: q.Unread}
	msgs, total, err := u.a.Store.Page(ctx, box.ID, pq)
	if err != nil {
		return nil, err
	}
	fs, err := u.folders(ctx, c, box.Name)
	if err != nil {
		return nil, err
	}
	d := &listData{foldersData: foldersData{Folders: fs, Current: box.Name}, Box: box, Title: boxTitle(box.Name),
		BoxURL: boxURL(box.Name), ListURL: q.url(box.Name, nil), Query: q, Total: total, Page: q.Page,
		Pages: max((total+size-1)/size, 1), IsTrash: box.SpecialUse == `\Trash`, IsDrafts: box.SpecialUse == `\Drafts`}
	d.AllURL = q.url(box.Name, func(q *listQuery) { q.Q, q.Page = "", 1 })
	if len(msgs) > 0 {
		d.First, d.Last = pq.Offset+1, pq.Offset+len(msgs)
	}
	if q.Page > 1 {
		d.PrevURL = q.url(box.Name, func(q *listQuery) { q.Page-- })
	}
	if q.Page < d.Pages {
		d.NextURL = q.url(box.Name, func(q *listQuery) { q.Page++ })
	}
	sent := box.SpecialUse == `\Sent` || box.SpecialUse == `\Drafts`
	who := [2]string{"from", "From"}
	if sent { // one's own mail: who it went to matters
		who = [2]string{"to", "To"}
	}
	for _, col := range [][2]string{who, {"subject", "Subject"}, {"date", "Date"}, {"size", "Size"}} {
		k := column{Key: col[0], Label: col[1], Class: "col-" + col[0]}
		if col[0] == "to" {
			k.Class = "col-from"
		}
		k.URL = q.url(box.Name, func(n *listQuery) {
			n.Sort, n.Page = col[0], 1
			n.Order = readListQuery(url.Values{"sort": {col[0]}}).Order
			if q.Sort == col[0] {
				n.Order = map[string]string{"asc": "desc", "desc": "asc"}[q.Order]
			}
		})
		if q.Sort == col[0] {
			k.Sorted = map[string]string{"asc": "ascending", "desc": "descending"}[q.Order]
		}
		d.Columns = append(d.Columns, k)
	}
	for _, f := range fs {
		if f.Name != box.Name {
			d.Targets = append(d.Targets, f)
		}
	}
	d.Rows = make([]row, 0, len(msgs))
	for _, m := range msgs {
		d.Rows = append(d.Rows, row{UID: m.UID, URL: msgURL(box.Name, m.UID), From: displayName(m.From), FromFull: m.From,
			Subject: m.Subject, Date: m.InternalDate, Size: m.Size, Seen: hasFlag(m.Flags, `\Seen`),
			Flagged: hasFlag(m.Flags, `\Flagged`), Answered: hasFlag(m.Flags, `\Answered`), IsDraft: hasFlag(m.Flags, `\Draft`)})
	}
	if sent {
		for i, m := range msgs {
			d.Rows[i].From, d.Rows[i].FromFull = displayName(m.To), m.To
		}
	}
	return d, nil
}

// displayName shortens "Name <addr>" to Name.
func displayName(s string) string {
	if i := strings.LastIndex(s, " <"); i > 0 && strings.HasSuffix(s, ">") {
		return strings.Trim(s[:i], `" `)
	}
	if s == "" {
		return "(nobody)"
	}
	return s
}

// countText is "3 messages" or "1 message".
func countText(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
