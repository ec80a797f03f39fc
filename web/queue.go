package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/triage"
)

// queuePageSize is the number of alerts on one page of the queue.
const queuePageSize = 50

// maxQueueAlerts bounds the alerts the queue considers: the view keeps
// that many (see app), and counting them all takes a few milliseconds.
const maxQueueAlerts = 20000

// openStatuses are the statuses the queue shows unless asked otherwise:
// what still needs someone.
var openStatuses = []string{triage.StatusNew, triage.StatusAcknowledged, triage.StatusAssigned, triage.StatusEscalated}

// periods are the time ranges of the queue's filter, by their URL value.
var periods = []struct {
	Value string
	Label string
	D     time.Duration
}{
	{"1h", "last hour", time.Hour},
	{"24h", "last 24 hours", 24 * time.Hour},
	{"168h", "last 7 days", 7 * 24 * time.Hour},
	{"720h", "last 30 days", 30 * 24 * time.Hour},
}

// queueFilter is the queue's filter, read from the URL so that a filtered
// queue can be bookmarked and shared.
type queueFilter struct {
	Status      string // "", "all" or a status
	Institution string
	Category    string
	Severity    string
	Source      string
	Period      string
	since       time.Time
}

func readQueueFilter(v url.Values, now time.Time) queueFilter {
	f := queueFilter{
		Status: v.Get("status"), Institution: v.Get("institution"), Category: v.Get("category"),
		Severity: v.Get("severity"), Source: v.Get("source"), Period: v.Get("period"),
	}
	if f.Status != "all" && !slices.Contains(triage.Statuses, f.Status) {
		f.Status = ""
	}
	for _, p := range periods {
		if p.Value == f.Period {
			f.since = now.Add(-p.D)
		}
	}
	if f.since.IsZero() {
		f.Period = ""
	}
	return f
}

// keep reports whether an alert passes every filter but the one named skip
// (counts per value of a filter ignore that filter itself).
func (f queueFilter) keep(a alerts.Alert, status, skip string) bool {
	statusOK := skip == "status" || (f.Status == "" && slices.Contains(openStatuses, status)) || f.Status == "all" || f.Status == status
	return statusOK &&
		(skip == "institution" || f.Institution == "" || f.Institution == a.Institution) &&
		(skip == "category" || f.Category == "" || f.Category == a.Category) &&
		(skip == "severity" || f.Severity == "" || f.Severity == string(a.Severity)) &&
		(skip == "source" || f.Source == "" || f.Source == a.Mention.Source) &&
		(f.since.IsZero() || !lastSeen(a).Before(f.since))
}

// facet is one filter's values with the number of alerts each would show.
type facet struct {
	Name   string
	Label  string
	Values []facetValue
}

type facetValue struct {
	Value string
	Count int
}

// queueRow is one alert in the queue.
type queueRow struct {
	alerts.Alert
	Status   string
	Assignee string
}

type queueData struct {
	Filter    queueFilter
	Rows      []queueRow
	Total     int
	Page      int
	Pages     int
	Facets    []facet
	Statuses  []string
	Periods   any
	LiveFrom  string
	Done      string
	Available bool
}

// queuePage serves GET /: the alerts that need someone, newest first.
func (s *server) queuePage(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	v := r.URL.Query()
	f := readQueueFilter(v, now)
	// The live position is taken before the rows: an alert that comes in
	// between is then both on the page and in the live stream (the script
	// replaces the row), never in neither.
	var liveFrom string
	if s.opts.Live != nil {
		if pos, err := s.opts.Live.Position(r.Context()); err == nil {
			liveFrom = pos.String()
		}
	}
	all := s.opts.Alerts.List(maxQueueAlerts)
	status := make(map[string]string, len(all))
	for _, a := range all {
		status[a.ID] = s.status(a.ID)
	}

	var rows []queueRow
	for _, a := range all {
		if f.keep(a, status[a.ID], "") {
			rows = append(rows, queueRow{Alert: a, Status: status[a.ID]})
		}
	}
	// Newest activity first: a repeat brings an alert back up.
	slices.SortStableFunc(rows, func(a, b queueRow) int {
		return cmp.Or(lastSeen(b.Alert).Compare(lastSeen(a.Alert)), strings.Compare(a.ID, b.ID))
	})
	data := queueData{
		Filter: f, Total: len(rows), Statuses: triage.Statuses, Periods: periods, Done: v.Get("done"),
		Facets: s.queueFacets(all, status, f), Available: s.opts.Triage != nil,
	}
	data.Pages = max(1, (len(rows)+queuePageSize-1)/queuePageSize)
	data.Page, _ = strconv.Atoi(v.Get("page"))
	data.Page = min(max(data.Page, 1), data.Pages)
	rows = rows[min(len(rows), (data.Page-1)*queuePageSize):min(len(rows), data.Page*queuePageSize)]
	if s.opts.Triage != nil {
		for i := range rows {
			rows[i].Assignee = s.opts.Triage.Get(rows[i].ID).Assignee
		}
	}
	data.Rows = rows
	data.LiveFrom = liveFrom
	s.render(w, r, http.StatusOK, "queue.html", "Alerts", data)
}

func (s *server) status(alertID string) string {
	if s.opts.Triage == nil {
		return triage.StatusNew
	}
	return s.opts.Triage.Status(alertID)
}

// queueFacets counts, for each filter, how many alerts each of its values
// would show with the other filters as they are.
func (s *server) queueFacets(all []alerts.Alert, status map[string]string, f queueFilter) []facet {
	type dim struct {
		name, label string
		value       func(alerts.Alert) string
		fixed       []string
	}
	severities := make([]string, 0, len(match.Severities))
	for i := len(match.Severities) - 1; i >= 0; i-- {
		severities = append(severities, string(match.Severities[i]))
	}
	dims := []dim{
		{"status", "Status", func(a alerts.Alert) string { return status[a.ID] }, triage.Statuses},
		{"severity", "Severity", func(a alerts.Alert) string { return string(a.Severity) }, severities},
		{"category", "Category", func(a alerts.Alert) string { return a.Category }, append(slices.Clone(match.Categories), alerts.CategoryVolumeSpike)},
		{"institution", "Institution", func(a alerts.Alert) string { return a.Institution }, nil},
		{"source", "Source", func(a alerts.Alert) string { return a.Mention.Source }, nil},
	}
	out := make([]facet, 0, len(dims))
	for _, d := range dims {
		counts := map[string]int{}
		for _, a := range all {
			if f.keep(a, status[a.ID], d.name) {
				counts[d.value(a)]++
			}
		}
		fc := facet{Name: d.name, Label: d.label}
		if d.fixed != nil {
			for _, v := range d.fixed {
				fc.Values = append(fc.Values, facetValue{v, counts[v]})
			}
		} else {
			for v, n := range counts {
				if v != "" {
					fc.Values = append(fc.Values, facetValue{v, n})
				}
			}
			slices.SortFunc(fc.Values, func(a, b facetValue) int { return cmp.Or(b.Count-a.Count, strings.Compare(a.Value, b.Value)) })
		}
		out = append(out, fc)
	}
	return out
}

// bulkAck serves POST /alerts/ack: acknowledge the alerts ticked in the
// queue. Alerts someone else already moved on are skipped, not an error.
func (s *server) bulkAck(w http.ResponseWriter, r *http.Request) {
	if s.opts.Triage == nil {
		s.failure(w, r, http.StatusServiceUnavailable, "Triage is not available.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		s.failure(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	user := identityOf(r).User
	ids := r.PostForm["id"]
	if len(ids) > queuePageSize*4 {
		ids = ids[:queuePageSize*4]
	}
	done := 0
	for _, id := range ids {
		if _, ok := s.opts.Alerts.Get(id); !ok || s.status(id) != triage.StatusNew {
			continue
		}
		if _, err := s.doTriage(r, id, triage.Request{Action: triage.ActionAck, Actor: user}); err == nil {
			done++
		} else {
			s.opts.Logger.Warn("bulk acknowledge", "alert", id, "err", err)
		}
	}
	next := localPath(r.PostForm.Get("next"))
	http.Redirect(w, r, withQuery(next, "done", strconv.Itoa(done)), http.StatusSeeOther)
}
