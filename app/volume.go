package app

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/mediawatch/mediawatch/spike"
)

// volume is the match stage's eye on mention volume: a spike detector fed
// with every matched mention, its counts stored by hour so that a restart
// keeps the baseline.
type volume struct {
	detector  *spike.Detector
	store     *spike.Store
	lastPrune time.Time
}

// newVolume opens the stored counts and loads them as the baseline.
func newVolume(ctx context.Context, conn *bus.Conn, cfg config.VolumeSpike) (*volume, error) {
	opts := spike.Options{Window: cfg.Window.D(), BaselineDays: cfg.BaselineDays, Factor: cfg.Factor,
		MinCount: cfg.MinCount, Cooldown: cfg.Cooldown.D()}
	store, err := spike.OpenStore(ctx, conn.JS, opts)
	if err != nil {
		return nil, err
	}
	det := spike.New(opts)
	if err := store.Load(ctx, det); err != nil {
		return nil, err
	}
	return &volume{detector: det, store: store}, nil
}

// observe counts a matched mention and returns the alerts of the spikes it
// completes.
func (v *volume) observe(m *mention.Mention, res match.Result, now time.Time) []alerts.Alert {
	if len(res.Institutions) == 0 {
		return nil
	}
	var cats []string
	for _, f := range res.Findings {
		if len(f.Institutions) > 0 && !slices.Contains(cats, f.Category) {
			cats = append(cats, f.Category)
		}
	}
	slices.Sort(cats)
	at := now
	if !m.Fetched.IsZero() && m.Fetched.Before(now) && now.Sub(m.Fetched) < time.Hour {
		at = m.Fetched
	}
	sm := spike.Mention{
		At: at, Institutions: res.Institutions, Categories: cats, Source: m.Source,
		// Personal data in a title is masked before its words can become
		// the terms of a spike alert.
		Title: match.Redact(m.Title, "title", res.Findings),
	}
	for _, k := range spike.KeysOf(sm) {
		v.store.Note(k, at)
	}
	var out []alerts.Alert
	for _, s := range v.detector.Observe(sm) {
		vol := alerts.Volume{Category: s.Key.Category, Count: s.Count, Baseline: s.Baseline, WindowSeconds: int(s.Window.Seconds())}
		for _, r := range s.TopSources {
			vol.TopSources = append(vol.TopSources, alerts.Ranked{Value: r.Value, Count: r.Count})
		}
		for _, r := range s.TopTerms {
			vol.TopTerms = append(vol.TopTerms, alerts.Ranked{Value: r.Value, Count: r.Count})
		}
		out = append(out, alerts.VolumeAlert(s.Key.Institution, vol, s.At))
	}
	if now.Sub(v.lastPrune) > time.Hour {
		v.detector.Prune(now)
		v.lastPrune = now
	}
	return out
}

// publish sends the spike alerts of a batch and stores the batch's counts.
// A spike alert that cannot be published is logged: it is about volume,
// which the next spike or the dashboard shows again, not about a post that
// would be lost.
func (v *volume) publish(ctx context.Context, pub *alerts.Publisher, list []alerts.Alert, log *slog.Logger) {
	for i := range list {
		a := &list[i]
		if _, err := pub.Publish(ctx, a); err != nil {
			log.Error("volume spike alert not published", "institution", a.Institution, "err", err)
			continue
		}
		log.Warn("volume spike", "alert", a.ID, "institution", a.Institution, "count", a.Volume.Count,
			"baseline", a.Volume.Baseline, "category", a.Volume.Category)
	}
	if err := v.store.Flush(ctx); err != nil {
		log.Warn("mention counts not stored; kept for the next batch", "err", err)
	}
}
