package app_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/match"
)

// The dashboard gets the post, the rules, saved searches and live updates
// from the daemon: the alert page shows the post with the BSN masked, the
// rules page lists the rules in force, a search can be saved, and an open
// queue page's event stream neither misses the alerts nor holds up the
// shutdown.
func TestDashboardWiring(t *testing.T) {
	fs := newFeedServer(t)
	cfg := testConfig(t, t.TempDir(), fs)
	d := startDaemon(t, cfg)

	var leak storedAlert
	eventually(t, "patient_data alert in the dashboard's view", func() error {
		var ok bool
		if leak, ok = findAlert(readAlerts(t, d.app.NATSURL()), "umc-utrecht", match.CategoryPatientData); !ok {
			return fmt.Errorf("not in ALERTS yet")
		}
		if code, body := d.get(t, "/api/alerts/"+leak.alert.ID); code != http.StatusOK {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})

	code, page := d.get(t, "/alerts/"+leak.alert.ID)
	if code != http.StatusOK || !strings.Contains(page, "lange dienst") && !strings.Contains(page, "dossier") {
		t.Fatalf("alert page: %d %.500s", code, page)
	}
	if strings.Contains(page, leakBSN) || len(match.FindBSNs(page)) > 0 {
		t.Errorf("the alert page shows the BSN to every viewer")
	}
	if !strings.Contains(page, `class="masked"`) || !strings.Contains(page, "******818") {
		t.Errorf("the alert page does not show the BSN masked")
	}

	if code, body := d.get(t, "/rules"); code != http.StatusOK || !strings.Contains(body, "patient_data.bsn") {
		t.Errorf("rules page: %d, lists the BSN rule: %v", code, strings.Contains(body, "patient_data.bsn"))
	}
	form := url.Values{"name": {"Dossiers"}, "query": {"q=dossier"}}
	req, _ := http.NewRequest(http.MethodPost, "http://"+d.app.HTTPAddr()+"/search/saved", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("save a search: %d, want a redirect to the search", resp.StatusCode)
	}

	// A queue page that opened before any alert catches up with them all.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.app.HTTPAddr()+"/events?from=0-0", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/events: %d", resp.StatusCode)
	}
	lines := bufio.NewScanner(resp.Body)
	sawLeak := false
	for !sawLeak && lines.Scan() {
		sawLeak = strings.HasPrefix(lines.Text(), "data: ") && strings.Contains(lines.Text(), leak.alert.ID)
	}
	if !sawLeak {
		t.Fatalf("the event stream ended without the leak alert: %v", lines.Err())
	}

	// The stream is still open: the daemon stops anyway, at once.
	start := time.Now()
	d.shutdown(t)
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("shutdown with an open queue page took %s", took)
	}
	for lines.Scan() {
	}
}
