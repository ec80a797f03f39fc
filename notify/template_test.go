package notify

import (
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	cases := []struct {
		f        format
		in, want string
	}{
		{formatPlain, "a\r\nb\tc\x00d", "a  b c d"},
		{formatSlack, "<!channel> & <@U123|x>", "&lt;!channel&gt; &amp; &lt;@U123|x&gt;"},
		{formatSlack, "*bold* _it_", "*bold* _it_"},
		{formatMarkdown, "@channel @all", "@\u200bchannel @\u200ball"},
		{formatMarkdown, "[x](javascript:alert(1)) **b** `c` # h | t", `\[x\]\(javascript:alert\(1\)\) \*\*b\*\* \` + "`" + `c\` + "`" + ` \# h \| t`},
		{formatMarkdown, "line\n# heading", `line \# heading`},
		{formatPlain, "bsn ******782\u2028x", "bsn ******782 x"},
	}
	for _, c := range cases {
		if got := escape(c.f, c.in); got != c.want {
			t.Errorf("escape(%d, %q) = %q, want %q", c.f, c.in, got, c.want)
		}
	}
}

func TestSafeURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://forum.example/t/1?a=1&b=2", "https://forum.example/t/1?a=1&b=2"},
		{"http://[::1]:8080/x", "http://[::1]:8080/x"},
		{"https://user:pw@host.example/p", "https://host.example/p"},
		{"https://x.example/a>b|c)d(e", "https://x.example/a%3Eb%7Cc%29d%28e"},
		{"https://x.example/wiki/A_(b)", "https://x.example/wiki/A_%28b%29"},
		{"javascript:alert(1)", ""},
		{"/relative", ""},
		{"https://x.example/\nBcc: y", ""},
		{"", ""},
		{"ftp://x.example/f", ""},
	}
	for _, c := range cases {
		if got := safeURL(c.in); got != c.want {
			t.Errorf("safeURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSplitLines(t *testing.T) {
	text := strings.Repeat("a", 5) + "\n" + strings.Repeat("b", 5) + "\n" + strings.Repeat("c", 12)
	got := splitLines(text, 11)
	want := []string{"aaaaa\nbbbbb", "ccccccccccc", "c"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitLines = %q, want %q", got, want)
	}
	for _, c := range got {
		if len([]rune(c)) > 11 {
			t.Errorf("chunk %q longer than 11", c)
		}
	}
}

// TestSlackSplitsLongText keeps every section within Slack's limit.
func TestSlackSplitsLongText(t *testing.T) {
	m := testMessage()
	a := m.Alerts[0]
	for i := range 60 {
		a.ID = strings.Repeat("x", i+1)
		a.Snippet = strings.Repeat("woord ", 40)
		m.Alerts = append(m.Alerts, a)
	}
	r, err := newRenderer("s", TypeSlack, "", slackMaxText)
	if err != nil {
		t.Fatal(err)
	}
	w := &webhook{sender: sender{name: "s", typ: TypeSlack}, render: r}
	p := encodeSlack(w, m, mustRender(t, r, m)).(slackPayload)
	total := 0
	for _, b := range p.Blocks {
		n := len([]rune(b.Text.Text))
		if n > 3000 {
			t.Errorf("section of %d characters", n)
		}
		total += n
	}
	if len(p.Blocks) < 2 || len(p.Blocks) > slackMaxBlocks || total > slackMaxText {
		t.Errorf("%d blocks, %d characters", len(p.Blocks), total)
	}
}

func mustRender(t *testing.T, r *renderer, m Message) string {
	t.Helper()
	s, err := r.render(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNoDashboardNoAlertLink leaves dashboard links out when the message
// has no dashboard URL.
func TestNoDashboardNoAlertLink(t *testing.T) {
	m := testMessage()
	m.DashboardURL = ""
	r, err := newRenderer("p", TypeMattermost, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	s := mustRender(t, r, m)
	if strings.Contains(s, "dashboard") || strings.Contains(s, "?alert=") {
		t.Errorf("dashboard links without a dashboard:\n%s", s)
	}
	if !strings.Contains(s, "[Open post](https://forum.example/t/1?page=2&sort=new)") {
		t.Errorf("no post link:\n%s", s)
	}
}
