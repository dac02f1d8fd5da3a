package mailui

import (
	"encoding/base64"
	"html/template"
	"net/url"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
)

// HTML mail is shown in three layers, each enough on its own against
// scripts: bluemonday keeps only a user-generated-content subset of HTML
// (no script, style, form, iframe, object, event handler or javascript:
// URL survives); the result is served by its own URL with a
// Content-Security-Policy that allows no script and no remote fetch but
// images the user asked for; and the page shows it in an iframe sandboxed
// without allow-scripts or allow-same-origin.

// sanitized is an HTML part made safe, with what was held back.
type sanitized struct {
	HTML          string
	RemoteImages  int // remote images found (and blocked unless loaded)
	EmbeddedCIDs  map[string]bool
	RemoteAllowed bool
}

// sanitizeHTML cleans an HTML part. Remote images are kept only with
// remote; cid: images become data: URIs from the message's own parts.
func sanitizeHTML(src string, parts []part, remote bool) sanitized {
	out := sanitized{EmbeddedCIDs: map[string]bool{}, RemoteAllowed: remote}
	byCID := map[string]*part{}
	for i := range parts {
		if parts[i].ContentID != "" {
			byCID[strings.ToLower(parts[i].ContentID)] = &parts[i]
		}
	}
	p := mailPolicy()
	p.RewriteSrc(func(u *url.URL) {
		switch strings.ToLower(u.Scheme) {
		case "cid":
			id, _ := url.PathUnescape(u.Opaque)
			pt := byCID[strings.ToLower(id)]
			*u = url.URL{}
			if pt != nil {
				out.EmbeddedCIDs[pt.ContentID] = true
			}
			if pt != nil && pt.data != nil && safeImage[pt.Type] {
				*u = url.URL{Scheme: "data", Opaque: pt.Type + ";base64," + base64.StdEncoding.EncodeToString(pt.data)}
			}
		case "http", "https":
			out.RemoteImages++
			if !remote {
				*u = url.URL{}
			}
		case "data":
		default: // relative URLs mean nothing in a mail
			*u = url.URL{}
		}
	})
	out.HTML = dropDataLinks(p.Sanitize(src))
	return out
}

// dropDataLinks removes data: URLs from links in sanitised HTML. The
// policy allows the data scheme for images, and bluemonday's URL schemes
// apply to every element, so a data: document could otherwise become a
// link.
func dropDataLinks(s string) string {
	if !strings.Contains(strings.ToLower(s), "data:") {
		return s
	}
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return b.String()
		}
		t := z.Token()
		if (tt == html.StartTagToken || tt == html.SelfClosingTagToken) && (t.Data == "a" || t.Data == "area") {
			attrs := t.Attr[:0]
			for _, a := range t.Attr {
				if a.Key != "href" || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "data:") {
					attrs = append(attrs, a)
				}
			}
			t.Attr = attrs
		}
		b.WriteString(t.String())
	}
}

// safeImage are the image types embedded as data: URIs (never SVG, which
// a browser might open as a document).
var safeImage = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// mailPolicy is bluemonday's user-generated-content policy widened with
// the presentational HTML mail is made of (tables, fonts, colours, inline
// styles of a safe set of properties) and narrowed for mail: links open
// in a new window without a referrer.
func mailPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowDataURIImages()
	p.AllowURLSchemes("mailto", "http", "https", "cid")
	p.AllowElements("font", "center", "span", "div")
	p.AllowAttrs("color", "face", "size").OnElements("font")
	p.AllowAttrs("bgcolor").Matching(colour).OnElements("table", "td", "th", "tr", "body")
	p.AllowAttrs("align").Matching(regexp.MustCompile(`(?i)^(left|right|center|justify)$`)).OnElements("p", "div", "table", "td", "th", "tr", "h1", "h2", "h3", "h4", "h5", "h6")
	p.AllowAttrs("width", "height", "border", "cellpadding", "cellspacing").Matching(bluemonday.NumberOrPercent).OnElements("table", "td", "th", "img")
	p.AllowStyles("color", "background-color", "font-family", "font-size", "font-weight", "font-style", "text-align",
		"text-decoration", "line-height", "margin", "margin-top", "margin-bottom", "margin-left", "margin-right",
		"padding", "padding-top", "padding-bottom", "padding-left", "padding-right", "border", "border-collapse",
		"border-top", "border-bottom", "border-left", "border-right", "border-color", "border-width", "border-style",
		"border-radius", "width", "max-width", "min-width", "height", "vertical-align", "white-space", "display",
		"text-transform", "letter-spacing", "list-style-type").Globally()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}

var colour = regexp.MustCompile(`^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20})$`)

// urlPattern finds links in plain text.
var urlPattern = regexp.MustCompile(`\bhttps?://[^\s<>"'\x60]+[^\s<>"'\x60.,;:!?)\]]`)

// linkify escapes plain text and makes its http(s) URLs links.
func linkify(s string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range urlPattern.FindAllStringIndex(s, -1) {
		b.WriteString(template.HTMLEscapeString(s[last:m[0]]))
		u := s[m[0]:m[1]]
		if _, err := url.Parse(u); err != nil {
			b.WriteString(template.HTMLEscapeString(u))
		} else {
			b.WriteString(`<a href="` + template.HTMLEscapeString(u) + `" rel="noopener noreferrer" target="_blank">` + template.HTMLEscapeString(u) + `</a>`)
		}
		last = m[1]
	}
	b.WriteString(template.HTMLEscapeString(s[last:]))
	return template.HTML(b.String())
}
