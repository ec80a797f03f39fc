package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/auth"
	"github.com/mediawatch/mediawatch/web/i18n"
)

// Preference cookies: a user's language and time zone, chosen with the
// switch in the page header.
const (
	langCookie = "mediawatch_lang"
	zoneCookie = "mediawatch_tz"
)

// page is what every page template gets: the printer for the user's
// language and zone, the CSP nonce for its script tag, who is looking and
// what they may do, and the page's own data.
type page struct {
	P     *i18n.Printer
	Nonce string
	Me    Identity
	// Self is the request's path and query, for links back to it.
	Self      string
	Title     string
	Nav       string
	CanTriage bool
	CanReveal bool
	CanAdmin  bool
	Version   string
	Now       time.Time
	Data      any
}

// parsePages parses each page template together with the layout: every page
// is its own template set, so their "content" blocks do not collide.
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		out[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(assets, "templates/layout.html", name))
	}
	return out
}

// printer picks the language (the switch's cookie, else Accept-Language)
// and the zone (the switch's cookie, else the user's, else the configured
// one).
func (s *server) printer(r *http.Request) *i18n.Printer {
	var lang, zone string
	if c, err := r.Cookie(langCookie); err == nil {
		lang = c.Value
	}
	if c, err := r.Cookie(zoneCookie); err == nil {
		zone = c.Value
	}
	loc := s.opts.TimeZone
	if l, ok := s.opts.UserZones[strings.ToLower(identityOf(r).User)]; ok && l != nil {
		loc = l
	}
	if slices.Contains(i18n.Zones(), zone) {
		if l, err := time.LoadLocation(zone); err == nil {
			loc = l
		}
	}
	return i18n.New(i18n.Negotiate(r.Header.Get("Accept-Language"), lang), loc)
}

// render writes a page. It renders into a buffer first, so that a template
// error becomes a clean 500 rather than half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	t, ok := s.pages[name]
	if !ok {
		panic("web: no page template " + name)
	}
	p := s.pageFor(r, name, data)
	p.Title = title
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.opts.Logger.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", p.P.Lang())
	h.Set("Vary", "Accept-Language, Cookie")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "private, no-cache")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageFor builds what a page template gets for the request.
func (s *server) pageFor(r *http.Request, name string, data any) page {
	id := identityOf(r)
	return page{
		P: s.printer(r), Nonce: nonceOf(r), Me: id, Self: selfOf(r), Nav: name,
		CanTriage: id.Can(auth.PermTriage) && s.opts.Triage != nil, CanReveal: s.mayReveal(id) && s.opts.Revealer != nil,
		CanAdmin: id.Can(auth.PermAdmin), Version: s.opts.Version, Now: time.Now(), Data: data,
	}
}

// selfOf is the address a page's links and switches come back to: the
// request's own for a GET, and for a page shown in answer to a form (a
// reveal, a failed action, a rules test) the page the form was on, since
// a GET of the form's address has no page.
func selfOf(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI()
	}
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/alerts/") && r.PathValue("id") != "":
		return "/alerts/" + url.PathEscape(r.PathValue("id"))
	case strings.HasPrefix(p, "/rules"):
		return "/rules"
	case strings.HasPrefix(p, "/silences"):
		return "/silences"
	case strings.HasPrefix(p, "/search"):
		return "/search"
	case p == "/login":
		return "/login"
	}
	return "/"
}

type errorPage struct {
	Status  int
	Message string
}

// failure answers an error: JSON for the API, a page otherwise. msg is
// English and is translated on the page.
func (s *server) failure(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if wantsJSON(r) {
		writeError(w, status, msg)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, "error.html", http.StatusText(status), errorPage{Status: status, Message: msg})
}

// preferences serves POST /preferences: the language and zone switch. It
// sets cookies only (nothing on the server changes) and goes back.
func (s *server) preferences(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.failure(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	const year = 365 * 24 * 60 * 60
	set := func(name, value string) {
		http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: year, HttpOnly: true,
			Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode})
	}
	if l := r.PostForm.Get("lang"); slices.Contains(i18n.Languages(), l) {
		set(langCookie, l)
	}
	if z := r.PostForm.Get("tz"); slices.Contains(i18n.Zones(), z) {
		set(zoneCookie, z)
	}
	http.Redirect(w, r, localPath(r.PostForm.Get("next")), http.StatusSeeOther)
}

// funcs are the template helpers that need no request.
var funcs = template.FuncMap{
	// safeURL lets only http(s) URLs become links: a feed's
	// "javascript:" or "data:" link is shown as text, never followed.
	"safeURL": safeURL,
	"query":   withQuery,
	"join":    strings.Join,
	"contains": func(list []string, v string) bool {
		return slices.Contains(list, v)
	},
	"add": func(a, b int) int { return a + b },
	"int": func(n uint64) int { return int(min(n, 1<<62)) },
	// label turns a status, category or severity value into its English
	// label, the key of its translation: patient_data -> patient data.
	"label": statusLabel,
	"rfc3339": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"seen":  lastSeen,
	"short": func(id string) string { return cut(id, 12) },
	"rowOf": func(p page, row queueRow) rowData { return rowData{Page: p, Row: row} },
	"segs":  func(p page, segs []Segment) segmentsData { return segmentsData{Page: p, Segs: segs} },
	"filterValue": func(f queueFilter, name string) string {
		switch name {
		case "status":
			return f.Status
		case "institution":
			return f.Institution
		case "category":
			return f.Category
		case "severity":
			return f.Severity
		case "source":
			return f.Source
		}
		return ""
	},
	"searchValue": func(d searchPageData, param string) string {
		switch param {
		case "institution":
			return d.Institution
		case "category":
			return d.Category
		case "source":
			return d.Source
		case "author":
			return d.Author
		case "day":
			if d.From == d.To {
				return d.From
			}
		}
		return ""
	},
	// liveQuery is the page's filter for its event stream.
	"liveQuery": func(self string) string {
		u, err := url.Parse(self)
		if err != nil {
			return ""
		}
		q := u.Query()
		q.Del("page")
		q.Del("done")
		return q.Encode()
	},
	"pct": func(n, total int) int {
		if total == 0 {
			return 0
		}
		return n * 100 / total
	},
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("dict: odd number of arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

// segmentsData is what the "segments" template gets.
type segmentsData struct {
	Page page
	Segs []Segment
}

// safeURL returns raw when it is an absolute http or https URL, else "".
func safeURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// withQuery returns self with key set to value (removed when empty) and the
// page cursor reset: how filter links keep the other filters.
func withQuery(self, key, value string) string {
	u, err := url.Parse(self)
	if err != nil {
		return "/"
	}
	q := u.Query()
	q.Del("before")
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	u.RawQuery = q.Encode()
	return u.RequestURI()
}
