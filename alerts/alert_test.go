package alerts

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
)

var detected = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// leak is a forum post that names both hospitals and leaks a BSN; the
// findings are what the matcher reports for it.
func leak() (*mention.Mention, match.Result) {
	text := "Stage in het UMC Utrecht, volgende maand UZ Leuven. Mevrouw op kamer 14 heeft bsn 234567818, wat een dag."
	m := &mention.Mention{
		ID: "m-1", Source: "forum", FeedID: "forum", URL: "https://forum.example/t/1", Author: "coassistent",
		Title: "dagje stage", Text: text, Published: detected.Add(-time.Hour),
	}
	bsnStart := strings.Index(text, "234567818")
	roomStart := strings.Index(text, "kamer 14")
	res := match.Result{
		Institutions: []string{"umc-utrecht", "uz-leuven"},
		Findings: []match.Finding{
			{Category: match.CategoryPatientData, Rule: "patient_data.room_bed", Severity: match.SeverityHigh, Field: "text",
				Start: roomStart, End: roomStart + len("kamer 14"), Evidence: "kamer 14", Explanation: "room number in care context",
				Institutions: []string{"umc-utrecht", "uz-leuven"}},
			{Category: match.CategoryPatientData, Rule: "patient_data.bsn", Severity: match.SeverityCritical, Field: "text",
				Start: bsnStart, End: bsnStart + 9, Evidence: "234567818", Explanation: "BSN passing the 11-check", Sensitive: true,
				Institutions: []string{"umc-utrecht", "uz-leuven"}},
			{Category: match.CategoryConduct, Rule: "conduct.denigrating", Severity: match.SeverityMedium, Field: "title",
				Start: 0, End: 5, Evidence: "dagje", Explanation: "test", Institutions: []string{"umc-utrecht"}},
			// A rule that applies to no mentioned institution raises nothing.
			{Category: match.CategoryMisinformation, Rule: "misinformation.alarm_claim", Severity: match.SeverityHigh, Field: "text",
				Start: 0, End: 5, Evidence: "Stage", Explanation: "test"},
		},
	}
	return m, res
}

func TestBuildGroupsByInstitutionAndCategory(t *testing.T) {
	m, res := leak()
	got := Build(m, res, detected, BuildOptions{})
	var keys []string
	for _, a := range got {
		keys = append(keys, a.Institution+"/"+a.Category+"/"+string(a.Severity))
	}
	want := []string{"umc-utrecht/conduct/medium", "umc-utrecht/patient_data/critical", "uz-leuven/patient_data/critical"}
	if !slices.Equal(keys, want) {
		t.Fatalf("alerts = %v, want %v", keys, want)
	}
	pd := got[1]
	if !slices.Equal(pd.Rules, []string{"patient_data.bsn", "patient_data.room_bed"}) {
		t.Errorf("rules = %v, want sorted and unique", pd.Rules)
	}
	if pd.Subject() != "mediawatch.alerts.umc-utrecht.patient_data.critical" {
		t.Errorf("subject = %s", pd.Subject())
	}
	if pd.Status != StatusNew || pd.Count != 1 || !pd.DetectedAt.Equal(detected) || !pd.FirstSeen.Equal(detected) {
		t.Errorf("lifecycle fields = %+v", pd)
	}
	if pd.Mention.ID != "m-1" || pd.Mention.URL != m.URL || pd.Mention.Source != "forum" || pd.Mention.Author != "coassistent" || !pd.Mention.Published.Equal(m.Published) {
		t.Errorf("mention ref = %+v", pd.Mention)
	}
}

func TestBuildRedactsEveryOutboundCopy(t *testing.T) {
	m, res := leak()
	for _, a := range Build(m, res, detected, BuildOptions{}) {
		if strings.Contains(a.Snippet, "234567818") {
			t.Errorf("%s: snippet leaks the BSN: %q", a.ID, a.Snippet)
		}
		for _, f := range a.Findings {
			if strings.Contains(f.Evidence, "234567818") {
				t.Errorf("%s: finding %s leaks the BSN: %q", a.ID, f.Rule, f.Evidence)
			}
		}
		if a.Category == match.CategoryPatientData && !strings.Contains(a.Snippet, "818") {
			t.Errorf("snippet %q should keep the last digits so a reader can tell numbers apart", a.Snippet)
		}
	}
}

func TestIDIsDeterministic(t *testing.T) {
	m, res := leak()
	first := Build(m, res, detected, BuildOptions{})
	again := Build(m, res, detected.Add(time.Hour), BuildOptions{})
	ids := map[string]bool{}
	for i := range first {
		if first[i].ID != again[i].ID {
			t.Errorf("alert %d: id %s then %s", i, first[i].ID, again[i].ID)
		}
		ids[first[i].ID] = true
	}
	if len(ids) != len(first) {
		t.Errorf("ids collide: %v", ids)
	}
	if ID("m-1", "umc-utrecht", "conduct") == ID("m-2", "umc-utrecht", "conduct") {
		t.Error("different mentions share an id")
	}
}

func TestSnippetWindow(t *testing.T) {
	long := strings.Repeat("Lorem ipsum dolor sit amet. ", 40)
	text := long + "Bsn 234567818 van de patiënt op kamer 3. " + long
	start := strings.Index(text, "234567818")
	f := match.Finding{Category: match.CategoryPatientData, Rule: "patient_data.bsn", Severity: match.SeverityCritical,
		Field: "text", Start: start, End: start + 9, Evidence: "234567818", Sensitive: true, Institutions: []string{"umc-utrecht"}}
	m := &mention.Mention{ID: "m", Text: text}
	got := Build(m, match.Result{Institutions: []string{"umc-utrecht"}, Findings: []match.Finding{f}}, detected, BuildOptions{SnippetLength: 80})
	s := got[0].Snippet
	if n := len([]rune(s)); n > 82 {
		t.Errorf("snippet has %d runes, want about 80: %q", n, s)
	}
	if !strings.HasPrefix(s, "…") || !strings.HasSuffix(s, "…") {
		t.Errorf("snippet %q should mark both cuts", s)
	}
	if !strings.Contains(s, "818") || strings.Contains(s, "234567818") {
		t.Errorf("snippet %q should hold the masked evidence", s)
	}
}

func TestRecent(t *testing.T) {
	r := NewRecent(3)
	for _, id := range []string{"a", "b", "c", "d"} {
		r.Add(Alert{ID: id, Count: 1})
	}
	r.Add(Alert{ID: "c", Count: 2})
	var ids []string
	for _, a := range r.List(10) {
		ids = append(ids, a.ID)
	}
	if !slices.Equal(ids, []string{"d", "c", "b"}) {
		t.Errorf("list = %v, want newest first, oldest evicted", ids)
	}
	if a, ok := r.Get("c"); !ok || a.Count != 2 {
		t.Errorf("Get(c) = %+v, %v: want the replaced alert", a, ok)
	}
	if _, ok := r.Get("a"); ok {
		t.Error("evicted alert still found")
	}
	if got := r.List(1); len(got) != 1 || got[0].ID != "d" {
		t.Errorf("List(1) = %v", got)
	}
}
