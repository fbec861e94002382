package bench

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/testdb"
)

// DrillSpec describes one rotation drill: a pool under load while the
// secret rotates.
type DrillSpec struct {
	// Approach is SecretSQL, Hooked (the native driver with secretsql's
	// hook: pgx's BeforeConnect, go-sql-driver/mysql's Hook.Connector),
	// Refresh (the [Baseline] policy) or Refetch ([GoWrapperLike]).
	Approach string
	// Strategy is the rotation strategy.
	Strategy rotation.Strategy
	// Window is how long the rotation waits between setSecret (the database
	// has the new credentials) and finishSecret (AWSCURRENT moves to them).
	Window time.Duration
	// Rotations is the number of rotations, one after the other.
	Rotations int
	// Workers query through a pool of Pool connections, each closed after
	// Lifetime (sql.DB.SetConnMaxLifetime), so that new connections are made
	// throughout the rotation.
	Workers  int
	Pool     int
	Lifetime time.Duration
	// Before and After are the periods of load before the first and after
	// the last rotation.
	Before, After time.Duration
	// Options are given to the secretsql Connector after WithClient (an
	// observer, for instance); the baselines ignore them.
	Options []secretsql.Option
}

// DrillRow is the outcome of a drill.
type DrillRow struct {
	Approach   string  `json:"approach"`
	Strategy   string  `json:"strategy"`
	WindowS    float64 `json:"window_seconds"`
	Rotations  int     `json:"rotations"`
	Workers    int     `json:"workers"`
	Pool       int     `json:"pool"`
	LifetimeMS float64 `json:"conn_max_lifetime_ms"`

	// Queries and Failed count the queries of the whole drill.
	Queries    int64  `json:"queries"`
	Failed     int64  `json:"failed_queries"`
	FirstError string `json:"first_error,omitempty"`
	// Connects and ConnectFailures count the connector's connects.
	Connects        int64 `json:"connects"`
	ConnectFailures int64 `json:"connect_failures"`
	// Calls is the number of GetSecretValue calls the application made from
	// the first rotation on (the rotation's own calls are not counted).
	Calls            int64   `json:"get_secret_value_calls"`
	CallsPerRotation float64 `json:"get_secret_value_calls_per_rotation"`
	// ChangeToNewMS is, per rotation, the time from the end of setSecret (the
	// password change) to the end of the first successful connect that
	// started after it; -1 if there was none before the next rotation or
	// the end of the drill.
	ChangeToNewMS []float64 `json:"change_to_first_new_connection_ms"`
	// Before is the query latency before the first rotation; During from the
	// end of the first setSecret to 1 s after the last finishSecret.
	Before Dist `json:"latency_before"`
	During Dist `json:"latency_during"`
	// BeforeQPS and DuringQPS are the successful queries per second that
	// started in those periods.
	BeforeQPS float64 `json:"qps_before"`
	DuringQPS float64 `json:"qps_during"`
	// Timeline is the load over time, for the charts of `make bench`
	// ([ChartFile]).
	Timeline Timeline `json:"timeline"`
}

// TimelineBucket is the width of a [Timeline]'s buckets.
const TimelineBucket = 100 * time.Millisecond

// Timeline is a drill's load over time: the queries that ended in each
// bucket of BucketMS from the start of the load, and when each rotation
// changed the password and finished.
type Timeline struct {
	BucketMS float64 `json:"bucket_ms"`
	OK       []int64 `json:"ok"`
	Failed   []int64 `json:"failed"`
	// SetSecretMS and FinishSecretMS are, per rotation, when setSecret
	// ended (the database has the new password) and when finishSecret
	// ended (AWSCURRENT is the new version), in ms from the start of the
	// load.
	SetSecretMS    []float64 `json:"set_secret_ms"`
	FinishSecretMS []float64 `json:"finish_secret_ms"`
}

// NewTimeline counts the end times ok and failed (from the start of the
// load) per [TimelineBucket], and marks the ends of each rotation's
// setSecret and finishSecret (from the start of the load too).
func NewTimeline(ok, failed, setSecret, finishSecret []time.Duration) Timeline {
	tl := Timeline{BucketMS: millis(TimelineBucket), OK: []int64{}, Failed: []int64{}}
	count := func(ends []time.Duration, into *[]int64) {
		for _, e := range ends {
			i := int(e / TimelineBucket)
			for len(tl.OK) <= i {
				tl.OK, tl.Failed = append(tl.OK, 0), append(tl.Failed, 0)
			}
			(*into)[i]++
		}
	}
	count(ok, &tl.OK)
	count(failed, &tl.Failed)
	for _, d := range setSecret {
		tl.SetSecretMS = append(tl.SetSecretMS, millis(d))
	}
	for _, d := range finishSecret {
		tl.FinishSecretMS = append(tl.FinishSecretMS, millis(d))
	}
	return tl
}

// millis is d in milliseconds.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Check reports an error unless tl counts ok successful and failed failed
// queries and marks rotations rotations, each setSecret before its
// finishSecret.
func (tl Timeline) Check(ok, failed int64, rotations int) error {
	var nOK, nFailed int64
	for i := range tl.OK {
		nOK += tl.OK[i]
	}
	for i := range tl.Failed {
		nFailed += tl.Failed[i]
	}
	var errs []error
	if nOK != ok || nFailed != failed || len(tl.OK) != len(tl.Failed) {
		errs = append(errs, fmt.Errorf("timeline counts %d ok and %d failed queries in %d/%d buckets, want %d and %d",
			nOK, nFailed, len(tl.OK), len(tl.Failed), ok, failed))
	}
	if len(tl.SetSecretMS) != rotations || len(tl.FinishSecretMS) != rotations {
		return errors.Join(append(errs, fmt.Errorf("timeline marks %d setSecret and %d finishSecret, want %d each",
			len(tl.SetSecretMS), len(tl.FinishSecretMS), rotations))...)
	}
	for i := range tl.SetSecretMS {
		if tl.SetSecretMS[i] > tl.FinishSecretMS[i] {
			errs = append(errs, fmt.Errorf("rotation %d: setSecret at %.0f ms after finishSecret at %.0f ms", i+1, tl.SetSecretMS[i], tl.FinishSecretMS[i]))
		}
	}
	return errors.Join(errs...)
}

// LastChangeToNewMS is the ChangeToNewMS of the last rotation (-1 if none).
func (r DrillRow) LastChangeToNewMS() float64 {
	if len(r.ChangeToNewMS) == 0 {
		return -1
	}
	return r.ChangeToNewMS[len(r.ChangeToNewMS)-1]
}

// duringTail is how long after the last finishSecret counts as "during".
const duringTail = time.Second

// Drill runs the drill described by spec on a fresh login user of the
// target's database and a fresh secret.
func (t *Target) Drill(ctx context.Context, spec DrillSpec) (DrillRow, error) {
	row := DrillRow{Approach: spec.Approach, Strategy: spec.Strategy.String(), WindowS: spec.Window.Seconds(),
		Rotations: spec.Rotations, Workers: spec.Workers, Pool: spec.Pool,
		LifetimeMS: millis(spec.Lifetime)}
	if spec.Rotations < 1 || spec.Workers < 1 || spec.Pool < 1 {
		return row, fmt.Errorf("bench: drill needs at least one rotation, worker and connection")
	}
	password := testdb.RandomPassword()
	user, err := t.DB.NewUser(ctx, password)
	if err != nil {
		return row, err
	}
	arn, err := t.NewSecret(user, password, spec.Strategy == rotation.AlternatingUsers)
	if err != nil {
		return row, err
	}
	client := &CountingClient{Client: t.SM.Client()}
	var inner driver.Connector
	switch spec.Approach {
	case SecretSQL:
		c, err := t.SecretSQL(arn, client, spec.Options...)
		if err != nil {
			return row, err
		}
		defer c.Close()
		inner = c
	case Hooked:
		c, closeHook, err := t.Hooked(arn, client)
		if err != nil {
			return row, err
		}
		defer closeHook()
		inner = c
	case Refresh:
		inner = t.Baseline(arn, client)
	case Refetch:
		client.Client = t.FreshClient()
		inner = t.GoWrapperLike(arn, client)
	default:
		return row, fmt.Errorf("bench: no drill for approach %q", spec.Approach)
	}
	obs := &observed{inner: inner}
	db := sql.OpenDB(obs)
	defer func() {
		db.Close()
		t.waitSessionsGone(context.WithoutCancel(ctx), user)
		if spec.Strategy == rotation.AlternatingUsers {
			t.waitSessionsGone(context.WithoutCancel(ctx), rotation.AltUsername(user))
		}
	}()
	db.SetMaxOpenConns(spec.Pool)
	db.SetMaxIdleConns(spec.Pool)
	db.SetConnMaxLifetime(spec.Lifetime)
	if err := db.PingContext(ctx); err != nil {
		return row, fmt.Errorf("%s drill: first connect: %w", t.Name(), err)
	}

	// Load.
	type sample struct{ at, lat time.Duration }
	var (
		epoch    = time.Now()
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		mu       sync.Mutex
		samples  []sample
		fails    []time.Duration // end times of the failed queries
		queries  atomic.Int64
		failed   atomic.Int64
		firstErr error
	)
	for range spec.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]sample, 0, 4096)
			var localFails []time.Duration
			for {
				select {
				case <-stop:
					mu.Lock()
					samples = append(samples, local...)
					fails = append(fails, localFails...)
					mu.Unlock()
					return
				default:
				}
				start := time.Now()
				qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				var n int
				err := db.QueryRowContext(qctx, "SELECT 1").Scan(&n)
				cancel()
				queries.Add(1)
				if err != nil {
					failed.Add(1)
					localFails = append(localFails, time.Since(epoch))
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				local = append(local, sample{start.Sub(epoch), time.Since(start)})
			}
		}()
	}

	// Rotations.
	var firstChange, lastFinish time.Duration = -1, 0
	var setSecret, finishSecret []time.Duration
	rot := &rotation.Rotator{Client: t.SM.Client(), DB: t.DB, Strategy: spec.Strategy,
		Hook: func(ctx context.Context, next rotation.Step) error {
			switch next {
			case rotation.TestSecret: // setSecret is done: the database has the new credentials
				now := time.Now()
				if firstChange < 0 {
					firstChange = now.Sub(epoch)
				}
				row.ChangeToNewMS = append(row.ChangeToNewMS, -1)
				setSecret = append(setSecret, now.Sub(epoch))
				obs.markChange(now)
			case rotation.FinishSecret:
				return sleepCtx(ctx, spec.Window)
			}
			return nil
		}}
	var rotErr error
	if rotErr = sleepCtx(ctx, spec.Before); rotErr == nil {
		client.Reset()
		for range spec.Rotations {
			if _, rotErr = rot.Rotate(ctx, arn); rotErr != nil {
				break
			}
			lastFinish = time.Since(epoch)
			finishSecret = append(finishSecret, lastFinish)
			if ms := obs.changeToNewMS(); ms >= 0 {
				row.ChangeToNewMS[len(row.ChangeToNewMS)-1] = ms
			}
		}
	}
	if rotErr == nil {
		// Wait for the load to settle; the last rotation's first new
		// connection may come now.
		rotErr = sleepCtx(ctx, spec.After)
	}
	if ms := obs.changeToNewMS(); ms >= 0 && len(row.ChangeToNewMS) > 0 {
		row.ChangeToNewMS[len(row.ChangeToNewMS)-1] = ms
	}
	close(stop)
	wg.Wait()
	if rotErr != nil {
		return row, fmt.Errorf("%s drill: %w", t.Name(), rotErr)
	}

	row.Queries, row.Failed = queries.Load(), failed.Load()
	if firstErr != nil {
		row.FirstError = firstErr.Error()
	}
	row.Connects, row.ConnectFailures = obs.connects.Load(), obs.failures.Load()
	row.Calls = client.Calls()
	row.CallsPerRotation = float64(row.Calls) / float64(spec.Rotations)
	var before, during, ends []time.Duration
	for _, s := range samples {
		ends = append(ends, s.at+s.lat)
		switch {
		case s.at < spec.Before:
			before = append(before, s.lat)
		case s.at >= firstChange && s.at <= lastFinish+duringTail:
			during = append(during, s.lat)
		}
	}
	row.Before, row.During = summarize(before), summarize(during)
	row.BeforeQPS = float64(len(before)) / spec.Before.Seconds()
	row.DuringQPS = float64(len(during)) / (lastFinish + duringTail - firstChange).Seconds()
	row.Timeline = NewTimeline(ends, fails, setSecret, finishSecret)
	return row, nil
}

// observed wraps the connector under test to count connects and time the
// first new connection after a password change.
type observed struct {
	inner              driver.Connector
	change             atomic.Int64 // UnixNano of the last password change; 0: none
	firstNew           atomic.Int64 // UnixNano of the first success started after it; 0: none
	connects, failures atomic.Int64
}

func (o *observed) Connect(ctx context.Context) (driver.Conn, error) {
	start := time.Now().UnixNano()
	conn, err := o.inner.Connect(ctx)
	o.connects.Add(1)
	if err != nil {
		o.failures.Add(1)
		return nil, err
	}
	if ch := o.change.Load(); ch != 0 && start >= ch {
		o.firstNew.CompareAndSwap(0, time.Now().UnixNano())
	}
	return conn, nil
}

func (o *observed) Driver() driver.Driver { return o.inner.Driver() }

// markChange records a password change at t.
func (o *observed) markChange(t time.Time) {
	o.firstNew.Store(0)
	o.change.Store(t.UnixNano())
}

// changeToNewMS returns the time from the last change to the first new
// connection, or -1.
func (o *observed) changeToNewMS() float64 {
	ch, first := o.change.Load(), o.firstNew.Load()
	if ch == 0 || first == 0 {
		return -1
	}
	return millis(time.Duration(first - ch))
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
