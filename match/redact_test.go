package match

import (
	"strings"
	"testing"
)

func TestRedactedEvidence(t *testing.T) {
	tests := []struct {
		f    Finding
		want string
	}{
		{Finding{Evidence: "123456782", Sensitive: true}, "******782"},
		{Finding{Evidence: "123.456.782", Sensitive: true}, "***.***.782"},
		{Finding{Evidence: "85.07.30-033.28", Sensitive: true}, "**.**.**-**3.28"},
		{Finding{Evidence: "Jan Peeters", Sensitive: true}, "*** *******"},
		{Finding{Evidence: "Zoë", Sensitive: true}, "***"},
		{Finding{Evidence: "BSN 111222333", Sensitive: true}, "*** ******333"},
		{Finding{Evidence: "kamer 12", Sensitive: false}, "kamer 12"},
		{Finding{Evidence: "", Sensitive: true}, ""},
	}
	for _, tt := range tests {
		if got := tt.f.RedactedEvidence(); got != tt.want {
			t.Errorf("RedactedEvidence(%q) = %q, want %q", tt.f.Evidence, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	const text = "Patiënt Zoë, bsn 111.222.333 en INSZ 85073003328 op kamer 4"
	span := func(sub string, sensitive bool) Finding {
		i := strings.Index(text, sub)
		return Finding{Field: "text", Start: i, End: i + len(sub), Evidence: sub, Sensitive: sensitive}
	}
	bsn, nn, name, room := span("111.222.333", true), span("85073003328", true), span("Zoë", true), span("kamer 4", false)
	labelled := span(", bsn 111", true)
	tail := span("mer 4", true)
	tail.End = 500
	tests := []struct {
		name     string
		field    string
		findings []Finding
		want     string
	}{
		{"none", "text", nil, text},
		{"one number", "text", []Finding{bsn}, "Patiënt Zoë, bsn ***.***.333 en INSZ 85073003328 op kamer 4"},
		{"all sensitive", "text", []Finding{room, nn, bsn, name}, "Patiënt ***, bsn ***.***.333 en INSZ ********328 op kamer 4"},
		{"other field", "title", []Finding{bsn}, text},
		{"overlapping spans mask their union", "text", []Finding{bsn, labelled},
			"Patiënt Zoë, *** ***.***.333 en INSZ 85073003328 op kamer 4"},
		{"span past the end is clamped", "text", []Finding{tail},
			"Patiënt Zoë, bsn 111.222.333 en INSZ 85073003328 op ka*** *"},
		{"inverted span is ignored", "text", []Finding{{Field: "text", Start: 20, End: 10, Sensitive: true}}, text},
	}
	for _, tt := range tests {
		if got := Redact(text, tt.field, tt.findings); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
