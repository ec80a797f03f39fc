package app

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/mediawatch/mediawatch/web"
	"github.com/nats-io/nats.go/jetstream"
)

// A post that misuses the hospital's name and leaks a patient's BSN, in
// its title and its text, with accented letters around the spans.
var leakyPost = mention.Mention{
	ID: "m-1", Source: "forum", FeedID: "forum", URL: "https://zorgforum.example/t/1", Author: "Pieter (coassistent)",
	Title: "Dossier open op de afdeling in het UMC Utrecht (bsn 111222333)",
	Text: "Namens het UMC Utrecht: de patiënt met bsn 111222333 ligt al dagen op de afdeling. " +
		"Geen idee waarom, ‘privé’ is anders — café om de hoek weet het ook.",
}

const leakyBSN = "111222333"

type postFixture struct {
	js      jetstream.JetStream
	rev     *revealer
	matcher *match.Matcher
	seq     uint64
}

func newPostFixture(t *testing.T) postFixture {
	t.Helper()
	js := natstest.Connect(t, natstest.StartJetStream(t))
	ctx := testContext(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: bus.StreamMentions, Subjects: []string{bus.SubjectMentions}}); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(leakyPost)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, "mediawatch.mentions.forum", data)
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadMatcher(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	return postFixture{js: js, matcher: m, seq: ack.Sequence,
		rev: &revealer{js: js, matcher: func() *match.Matcher { return m }, audit: log}}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (f postFixture) alert(category string) alerts.Alert {
	return alerts.Alert{ID: "a-" + category, Institution: "umc-utrecht", Category: category,
		Rules:   []string{"x"},
		Mention: alerts.MentionRef{ID: leakyPost.ID, URL: leakyPost.URL, Seq: f.seq}}
}

// checkCovers fails unless segs, read in order, are s: plain and evidence
// segments as they are, masked ones one '*' or kept character for each
// character of s.
func checkCovers(t *testing.T, s string, segs []web.Segment) {
	t.Helper()
	pos := 0
	for i, seg := range segs {
		if !utf8.ValidString(seg.Text) || seg.Text == "" {
			t.Fatalf("segment %d %+v: empty or not UTF-8", i, seg)
		}
		if !seg.Masked {
			if !strings.HasPrefix(s[pos:], seg.Text) {
				t.Fatalf("segment %d %q is not the text at %d (%q)", i, seg.Text, pos, s[pos:])
			}
			pos += len(seg.Text)
			continue
		}
		for _, r := range seg.Text {
			orig, size := utf8.DecodeRuneInString(s[pos:])
			if r != '*' && r != orig {
				t.Fatalf("masked segment %d %q does not mask %q", i, seg.Text, s[pos:])
			}
			pos += size
		}
	}
	if pos != len(s) {
		t.Fatalf("segments cover %d of %d bytes: %q", pos, len(s), s[pos:])
	}
}

func join(segs []web.Segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteString(s.Text)
	}
	return b.String()
}

// The post as any viewer sees it: the BSN masked in title and text, for an
// alert of any category, and the alert's own evidence marked with its rule.
func TestPostMasksPersonalDataAndMarksEvidence(t *testing.T) {
	f := newPostFixture(t)
	ctx := testContext(t)
	for _, category := range []string{match.CategoryLogoMisuse, match.CategoryPatientData} {
		post, err := f.rev.Post(ctx, f.alert(category))
		if err != nil {
			t.Fatal(err)
		}
		checkCovers(t, leakyPost.Title, post.Title)
		checkCovers(t, leakyPost.Text, post.Body)
		for _, segs := range [][]web.Segment{post.Title, post.Body} {
			text := join(segs)
			if strings.Contains(text, leakyBSN) || len(match.FindBSNs(text)) > 0 {
				t.Errorf("%s: the viewer sees the BSN: %q", category, text)
			}
			masked := 0
			for _, s := range segs {
				if s.Masked {
					masked++
					if s.Rule != "" || s.Text != "******333" {
						t.Errorf("%s: masked segment %+v, want ******333 without a rule", category, s)
					}
				}
			}
			if masked != 1 {
				t.Errorf("%s: %d masked segments in %+v, want 1", category, masked, segs)
			}
		}
		var evidence []web.Segment
		for _, s := range post.Body {
			if s.Rule != "" {
				evidence = append(evidence, s)
			}
		}
		switch category {
		case match.CategoryLogoMisuse:
			if len(evidence) != 1 || evidence[0].Rule != "logo_misuse.speaks_on_behalf" || evidence[0].Text != "Namens het UMC Utrecht" {
				t.Errorf("logo misuse evidence %+v", evidence)
			}
		case match.CategoryPatientData:
			// The BSN is the evidence, and masked: nothing of it shows
			// as evidence, and no other category's is marked.
			for _, s := range evidence {
				if strings.HasPrefix(s.Rule, "logo_misuse.") || strings.Contains(s.Text, "333") {
					t.Errorf("patient data evidence %+v", s)
				}
			}
		}
	}
}

// No post, a post gone from the stream, or another post at the sequence:
// nothing to show, nothing to reveal.
func TestPostAndRevealOfAGonePost(t *testing.T) {
	f := newPostFixture(t)
	ctx := testContext(t)
	spike := f.alert(match.CategoryLogoMisuse)
	spike.Mention = alerts.MentionRef{}
	other := f.alert(match.CategoryLogoMisuse)
	other.Mention.ID = "another post"
	for name, a := range map[string]alerts.Alert{"spike": spike, "other": other} {
		if _, err := f.rev.Post(ctx, a); !errors.Is(err, web.ErrNothingToReveal) {
			t.Errorf("post of %s: %v, want ErrNothingToReveal", name, err)
		}
	}
	str, err := f.js.Stream(ctx, bus.StreamMentions)
	if err != nil {
		t.Fatal(err)
	}
	if err := str.DeleteMsg(ctx, f.seq); err != nil {
		t.Fatal(err)
	}
	a := f.alert(match.CategoryLogoMisuse)
	if _, err := f.rev.Post(ctx, a); !errors.Is(err, web.ErrNothingToReveal) {
		t.Errorf("post of an erased mention: %v, want ErrNothingToReveal", err)
	}
	if _, err := f.rev.Reveal(ctx, a, "pieter", "datalek"); !errors.Is(err, web.ErrNothingToReveal) {
		t.Errorf("reveal of an erased mention: %v, want ErrNothingToReveal", err)
	}
	if n := auditCount(t, f); n != 0 {
		t.Errorf("%d audit records, want none: nothing was revealed", n)
	}
}

func auditCount(t *testing.T, f postFixture) int {
	t.Helper()
	records, err := f.rev.audit.Query(testContext(t), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return len(records)
}

// A reveal is on the audit log before the evidence is returned; a reveal
// the log refuses returns nothing.
func TestRevealIsAuditedFirst(t *testing.T) {
	f := newPostFixture(t)
	ctx := testContext(t)
	a := f.alert(match.CategoryPatientData)
	if _, err := f.rev.Reveal(ctx, a, "pieter", strings.Repeat("x", audit.MaxReason+1)); err == nil {
		t.Error("a reason longer than the audit log takes was accepted")
	}
	if n := auditCount(t, f); n != 0 {
		t.Fatalf("%d audit records after a refused reveal", n)
	}
	found, err := f.rev.Reveal(ctx, a, "pieter", "  datalek melden bij de AP ")
	if err != nil {
		t.Fatal(err)
	}
	var bsn bool
	for _, fd := range found {
		bsn = bsn || (fd.Rule == "patient_data.bsn" && fd.Evidence == leakyBSN)
		if !strings.HasPrefix(fd.Rule, "patient_data.") {
			t.Errorf("revealed a finding of another category: %+v", fd)
		}
	}
	if !bsn {
		t.Errorf("revealed %+v, want the BSN", found)
	}
	records, err := f.rev.audit.Query(ctx, audit.Query{Kind: audit.KindReveal})
	if err != nil || len(records) != 1 {
		t.Fatalf("audit records %+v (%v), want the reveal", records, err)
	}
	if r := records[0]; r.Actor != "pieter" || r.Action != "reveal" || r.AlertID != a.ID || r.Mention != leakyPost.ID ||
		r.Reason != "datalek melden bij de AP" || len(r.Rules) != 1 || r.At.IsZero() {
		t.Errorf("audit record %+v", r)
	}
}

// Spans overlap, nest and end inside multi-byte characters: the segments
// still cover the text in order, whole characters each, the mask winning.
func TestSegmentsOverlapAndUTF8(t *testing.T) {
	a := alerts.Alert{Institution: "umc-utrecht", Category: match.CategoryConduct}
	s := "één café, ‘privé’ 123456782 en €5"
	own := func(rule string, start, end int) match.Finding {
		return match.Finding{Rule: rule, Category: match.CategoryConduct, Institutions: []string{"umc-utrecht"}, Field: "text", Start: start, End: end}
	}
	secret := func(start, end int) match.Finding {
		return match.Finding{Rule: "patient_data.bsn", Category: match.CategoryPatientData, Sensitive: true, Field: "text", Start: start, End: end}
	}
	num := strings.Index(s, "123456782")
	for name, tt := range map[string]struct {
		findings []match.Finding
		want     []web.Segment
	}{
		"nothing": {nil, []web.Segment{{Text: s}}},
		"mid-rune evidence widens to whole characters": {
			[]match.Finding{own("conduct.a", 1, 3)}, // inside the first "é" to inside the second
			[]web.Segment{{Text: "éé", Rule: "conduct.a"}, {Text: s[len("éé"):]}},
		},
		"mask wins over overlapping evidence": {
			[]match.Finding{own("conduct.a", num-len("’ "), num+4), secret(num, num+9)},
			[]web.Segment{{Text: s[:num-len("’ ")]}, {Text: "’ ", Rule: "conduct.a"}, {Text: "******782", Masked: true}, {Text: s[num+9:]}},
		},
		"overlapping masks merge": {
			[]match.Finding{secret(num, num+5), secret(num+3, num+9)},
			[]web.Segment{{Text: s[:num]}, {Text: "******782", Masked: true}, {Text: s[num+9:]}},
		},
		"nested evidence: the first finding's rule": {
			[]match.Finding{own("conduct.a", 0, len("één café")), own("conduct.b", len("één "), len("één café"))},
			[]web.Segment{{Text: "één café", Rule: "conduct.a"}, {Text: s[len("één café"):]}},
		},
		"other category not marked, other field ignored, out of range ignored": {
			[]match.Finding{{Rule: "misinformation.x", Category: match.CategoryMisinformation, Institutions: []string{"umc-utrecht"}, Field: "text", Start: 0, End: 3},
				{Rule: "conduct.t", Category: match.CategoryConduct, Institutions: []string{"umc-utrecht"}, Field: "title", Start: 0, End: 3},
				own("conduct.a", len(s)+1, len(s)+5)},
			[]web.Segment{{Text: s}},
		},
		"evidence to the end": {
			[]match.Finding{own("conduct.a", len(s)-2, len(s))}, // inside "€"
			[]web.Segment{{Text: s[:len(s)-len("€5")]}, {Text: "€5", Rule: "conduct.a"}},
		},
	} {
		got := segments(s, "text", tt.findings, a)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, tt.want)
		}
		checkCovers(t, s, got)
	}
	if got := segments("", "text", nil, a); got != nil {
		t.Errorf("empty field: %+v", got)
	}
}
