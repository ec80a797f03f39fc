package route

import (
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/match"
)

// guidelineTree is the shape the shipped defaults have: per institution,
// patient data to the privacy officer and serious misinformation to the
// press office, and everything to the communications team.
func guidelineTree() Config {
	inst := func(id string) Config {
		return Config{
			Match:    map[string][]string{LabelInstitution: {id}},
			Receiver: "comms-" + id,
			Routes: []Config{
				{Match: map[string][]string{LabelCategory: {"patient_data"}}, Receiver: "privacy-" + id, Continue: true, GroupWait: time.Second},
				{Match: map[string][]string{LabelCategory: {"misinformation"}, LabelSeverity: {"high", "critical"}}, Receiver: "press-" + id, Continue: true},
				{Receiver: "comms-" + id},
			},
		}
	}
	return Config{Receiver: "comms", GroupInterval: 10 * time.Minute, Routes: []Config{inst("umc-utrecht"), inst("uz-leuven")}}
}

var receivers = []string{"comms", "comms-umc-utrecht", "comms-uz-leuven", "privacy-umc-utrecht", "privacy-uz-leuven", "press-umc-utrecht", "press-uz-leuven"}

func TestResolve(t *testing.T) {
	root, err := Build(guidelineTree(), receivers)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		inst, cat, sev string
		want           string // receivers, in order
	}{
		{"umc-utrecht", "patient_data", "critical", "privacy-umc-utrecht,comms-umc-utrecht"},
		{"uz-leuven", "misinformation", "high", "press-uz-leuven,comms-uz-leuven"},
		{"uz-leuven", "misinformation", "medium", "comms-uz-leuven"},
		{"umc-utrecht", "conduct", "high", "comms-umc-utrecht"},
		{"another-hospital", "conduct", "high", "comms"},
	}
	for _, tt := range tests {
		a := &alerts.Alert{Institution: tt.inst, Category: tt.cat, Severity: match.Severity(tt.sev)}
		var got []string
		for _, r := range root.Resolve(LabelsOf(a)) {
			got = append(got, r.Receiver)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%s/%s/%s → %v, want %s", tt.inst, tt.cat, tt.sev, got, tt.want)
		}
	}
}

func TestInheritanceAndGroupKeys(t *testing.T) {
	root, err := Build(guidelineTree(), receivers)
	if err != nil {
		t.Fatal(err)
	}
	privacy := root.Routes[0].Routes[0]
	if privacy.ID != "0.0.0" || privacy.GroupWait != time.Second || privacy.GroupInterval != 10*time.Minute ||
		privacy.RepeatInterval != DefaultRepeatInterval || strings.Join(privacy.GroupBy, ",") != "institution,category" {
		t.Errorf("privacy route = %+v", privacy)
	}
	labels := LabelsOf(&alerts.Alert{Institution: "umc-utrecht", Category: "patient_data", Severity: "critical", Mention: alerts.MentionRef{Source: "forum"}})
	if got := privacy.GroupKey(labels); got != "0.0.0{institution=umc-utrecht,category=patient_data}" {
		t.Errorf("group key = %s", got)
	}
}

func TestBuildReportsEveryProblem(t *testing.T) {
	bad := Config{
		Routes: []Config{
			{Receiver: "nobody", Match: map[string][]string{"colour": {"red"}}},
			{Match: map[string][]string{LabelCategory: {}}, GroupBy: []string{"author"}, GroupWait: -time.Second},
		},
	}
	_, err := Build(bad, receivers)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"the root route needs a receiver",
		`route 0.0: unknown receiver "nobody"`,
		`route 0.0: cannot match on "colour"`,
		"route 0.1: match.category lists no values",
		`route 0.1: cannot group by "author"`,
		"route 0.1: group_wait must not be negative",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
