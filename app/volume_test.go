package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/nats-io/nats.go/jetstream"
)

// A burst of posts about one hospital, none breaking a guideline, raises
// one volume_spike alert with what the posts are about, and nothing
// personal.
func TestVolumeSpikeAlert(t *testing.T) {
	cfg := quietConfig(t, t.TempDir())
	cfg.Alerts.VolumeSpike.MinCount = 8
	d := startDaemon(t, cfg)
	js, done := connectJS(t, d.app.NATSURL())
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 12 {
		m := mention.Mention{
			ID: fmt.Sprintf("burst-%d", i), Source: "mastodon", URL: fmt.Sprintf("https://social.example/@p%d/1", i),
			Title: fmt.Sprintf("Brandalarm in Gasthuisberg, ontruiming bezig (bsn 23456781%d)", i%10),
			Text:  "Grote ontruiming bij UZ Leuven vanmiddag, veel brandweer aan de ingang.", Fetched: time.Now(), Published: time.Now(),
		}
		data, _ := json.Marshal(m)
		if _, err := js.Publish(ctx, mention.Subject(m.Source), data, jetstream.WithMsgID(m.ID)); err != nil {
			t.Fatal(err)
		}
	}
	var spike alerts.Alert
	eventually(t, "a volume_spike alert", func() error {
		for _, a := range readAlerts(t, d.app.NATSURL()) {
			if a.alert.Category == alerts.CategoryVolumeSpike && a.alert.Volume != nil && a.alert.Volume.Category == "" {
				spike = a.alert
				if a.subject != "mediawatch.alerts.uz-leuven.volume_spike.high" {
					t.Errorf("subject %s", a.subject)
				}
				return nil
			}
		}
		return fmt.Errorf("none yet")
	})
	v := spike.Volume
	if spike.Institution != "uz-leuven" || v.Count < 8 || v.Baseline != 0 || len(v.TopSources) != 1 || v.TopSources[0].Value != "mastodon" {
		t.Errorf("spike alert %+v, volume %+v", spike, v)
	}
	terms := fmt.Sprint(v.TopTerms)
	if !strings.Contains(terms, "gasthuisberg") || !strings.Contains(terms, "brandalarm") {
		t.Errorf("top terms %s", terms)
	}
	raw, _ := json.Marshal(spike)
	if strings.Contains(string(raw), "2345678") {
		t.Errorf("spike alert carries a number from a title: %s", raw)
	}
}
