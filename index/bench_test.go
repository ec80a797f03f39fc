package index

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// realisticDocs returns n documents cycling through the test mentions,
// each with its own ID and time so none replaces another.
func realisticDocs(b *testing.B, n, offset int) []Doc {
	base := loadDocs(b)
	docs := make([]Doc, n)
	for i := range docs {
		d := base[(offset+i)%len(base)]
		d.ID = fmt.Sprintf("%s-%d", d.ID, offset+i)
		d.Published = d.Published.Add(time.Duration(offset+i) * time.Minute)
		docs[i] = d
	}
	return docs
}

func BenchmarkIndexBatch(b *testing.B) {
	const batchSize = 1000
	ix, err := Open(filepath.Join(b.TempDir(), "idx"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	ctx := context.Background()
	batches := 0
	var docs []Doc
	for b.Loop() {
		b.StopTimer()
		docs = realisticDocs(b, batchSize, batches*batchSize)
		b.StartTimer()
		if err := ix.Index(ctx, docs); err != nil {
			b.Fatal(err)
		}
		batches++
	}
	b.ReportMetric(float64(batches*batchSize)/b.Elapsed().Seconds(), "docs/s")
}

func BenchmarkSearch(b *testing.B) {
	ix, err := Open(filepath.Join(b.TempDir(), "idx"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	ctx := context.Background()
	for i := range 10 {
		if err := ix.Index(ctx, realisticDocs(b, 1000, i*1000)); err != nil {
			b.Fatal(err)
		}
	}
	// The day facet counts the last days before Now; ending it on the
	// last day of the test mentions gives it hits to count.
	now := time.Date(2025, 2, 20, 12, 0, 0, 0, time.UTC)
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []Query{
		{Q: "ziekenhuizen", Now: now},
		{Q: `"spoedeisende hulp"`, Now: now},
		{Q: "hospital", Institution: "uz-leuven", Now: now},
		{Category: "patient_data", Now: now, Zone: ams},
		{Q: `url:"https://nos.nl/artikel/1001"`, Now: now},
	} {
		b.Run(fmt.Sprintf("%q/%s/%s", q.Q, q.Institution, q.Category), func(b *testing.B) {
			for b.Loop() {
				if _, err := ix.Search(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
