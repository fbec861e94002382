package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretsql/secretsql/tools/charts"
)

// bucket is the width of the timeline's buckets.
const bucket = 100 * time.Millisecond

// timeline counts the queries that ended in each bucket of the run, and
// when the rotation's steps ended.
type timeline struct {
	start      time.Time
	ok, failed []atomic.Int64

	mu                      sync.Mutex
	setSecret, finishSecret []time.Duration
}

// newTimeline returns a timeline for a run that started at start and lasts
// about d.
func newTimeline(start time.Time, d time.Duration) *timeline {
	n := int(d/bucket) + 50 // room for queries that end late
	return &timeline{start: start, ok: make([]atomic.Int64, n), failed: make([]atomic.Int64, n)}
}

// add counts a query that ended now.
func (t *timeline) add(failed bool) {
	i := min(int(time.Since(t.start)/bucket), len(t.ok)-1)
	if failed {
		t.failed[i].Add(1)
	} else {
		t.ok[i].Add(1)
	}
}

// mark records that a step ended now.
func (t *timeline) mark(step *[]time.Duration) {
	t.mu.Lock()
	*step = append(*step, time.Since(t.start))
	t.mu.Unlock()
}

// timeline returns the counts up to the last bucket with a query, and the
// marks, in the JSON of internal/bench's drills.
func (t *timeline) timeline() charts.Timeline {
	last := -1
	for i := range t.ok {
		if t.ok[i].Load()+t.failed[i].Load() > 0 {
			last = i
		}
	}
	tl := charts.Timeline{BucketMS: float64(bucket) / float64(time.Millisecond), OK: []int64{}, Failed: []int64{}}
	for i := 0; i <= last; i++ {
		tl.OK, tl.Failed = append(tl.OK, t.ok[i].Load()), append(tl.Failed, t.failed[i].Load())
	}
	ms := func(ds []time.Duration) (out []float64) {
		for _, d := range ds {
			out = append(out, float64(d)/float64(time.Millisecond))
		}
		return out
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tl.SetSecretMS, tl.FinishSecretMS = ms(t.setSecret), ms(t.finishSecret)
	return tl
}
