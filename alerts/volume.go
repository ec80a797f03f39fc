package alerts

import (
	"fmt"
	"strconv"
	"time"

	"github.com/mediawatch/mediawatch/match"
)

// CategoryVolumeSpike is the category of alerts about how much an
// institution is mentioned rather than about one post.
const CategoryVolumeSpike = "volume_spike"

// Volume describes a volume spike: mentions in the window against the mean
// of the same window on the previous days, and what they are about.
type Volume struct {
	// Category is set when the spike is in one category's mentions; empty
	// for all mentions of the institution.
	Category      string   `json:"category,omitempty"`
	Count         int      `json:"count"`
	Baseline      float64  `json:"baseline"`
	WindowSeconds int      `json:"window_seconds"`
	TopSources    []Ranked `json:"top_sources"`
	TopTerms      []Ranked `json:"top_terms"`
}

// Ranked is a value with its count.
type Ranked struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// VolumeAlert builds the alert for a spike of an institution's mentions
// (of one category, or all) seen at at. Its id is the institution, the
// category and the hour, so the same spike found twice is one alert.
// Severity is medium, high from five times the baseline.
func VolumeAlert(institution string, v Volume, at time.Time) Alert {
	sev := match.SeverityMedium
	if float64(v.Count) >= 5*max(v.Baseline, 1) {
		sev = match.SeverityHigh
	}
	what := "mentions"
	if v.Category != "" {
		what = v.Category + " mentions"
	}
	hour := at.UTC().Truncate(time.Hour)
	return Alert{
		ID:          ID("volume:"+strconv.FormatInt(hour.Unix(), 10), institution, CategoryVolumeSpike+"/"+v.Category),
		Institution: institution,
		Category:    CategoryVolumeSpike,
		Severity:    sev,
		Rules:       []string{CategoryVolumeSpike},
		Snippet: fmt.Sprintf("%d %s in the last %s, against %.1f on other days at this time",
			v.Count, what, time.Duration(v.WindowSeconds)*time.Second, v.Baseline),
		Volume:     &v,
		DetectedAt: at,
		Status:     StatusNew,
		Count:      1,
		FirstSeen:  at,
		LastSeen:   at,
		Findings:   []Evidence{},
	}
}
