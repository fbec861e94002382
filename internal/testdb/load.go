package testdb

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// Load is query load for rotation tests: workers that run a query in a
// loop until [Load.Stop], counting the queries that worked and keeping
// every failure.
type Load struct {
	ok       atomic.Int64
	mu       sync.Mutex
	failures []Failure
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

// Failure is a query that failed, with the time it started.
type Failure struct {
	Start time.Time
	Err   error
}

// StartLoad starts workers that each call query in a loop, with a context
// that ends at Stop or after 15 s. A query that fails before Stop is a
// failure.
func StartLoad(workers int, query func(context.Context) error) *Load {
	l := &Load{}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for range workers {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				qctx, qcancel := context.WithTimeout(ctx, 15*time.Second)
				err := query(qctx)
				qcancel()
				switch {
				case err == nil:
					l.ok.Add(1)
				case ctx.Err() == nil:
					l.mu.Lock()
					l.failures = append(l.failures, Failure{start, err})
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

// SelectOne is a query for StartLoad: SELECT 1 on db.
func SelectOne(db *sql.DB) func(context.Context) error {
	return func(ctx context.Context) error {
		var one int
		return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}
}

// Queries is the number of queries that worked so far.
func (l *Load) Queries() int64 { return l.ok.Load() }

// Stop ends the load, waits for the workers and returns the failures.
func (l *Load) Stop() []Failure {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures
}
