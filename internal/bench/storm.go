package bench

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/secretsql/secretsql/internal/testdb"
)

// StormResult is part 3: many concurrent first connects.
type StormResult struct {
	Goroutines int        `json:"goroutines"`
	Rounds     int        `json:"rounds"`
	Rows       []StormRow `json:"rows"`
	// Note explains a server limit that shaped the results, if any.
	Note string `json:"note,omitempty"`
}

// StormRow is one approach's cold storm, over all rounds.
type StormRow struct {
	Approach string `json:"approach"`
	// Connected, TooMany and Errors add up the connects of all rounds that
	// succeeded, that the server refused for lack of slots (PostgreSQL
	// "too many clients", MariaDB "Too many connections") and that failed
	// otherwise.
	Connected int `json:"connected"`
	TooMany   int `json:"too_many_connections"`
	Errors    int `json:"other_errors"`
	// CallsPerRound is the largest number of GetSecretValue calls of a round.
	CallsPerRound int64 `json:"get_secret_value_calls_per_round"`
	// AllConnectedMS is the median over the rounds of the time from the
	// start until the last connect returned.
	AllConnectedMS float64 `json:"all_connected_ms"`
	FirstError     string  `json:"first_error,omitempty"`
}

// BenchStorm starts n concurrent connects at once per approach and round
// (raw, secretsql with a cold cache — a new secret and client each round —
// naive, and the Go-wrapper-like baseline, also cold), closes them all, and
// waits for the server to end the sessions before the next storm.
func (t *Target) BenchStorm(ctx context.Context, n, rounds int) (StormResult, error) {
	res := StormResult{Goroutines: n, Rounds: rounds}
	names := []string{Raw, SecretSQL, Naive, Refetch}
	rows := make([]StormRow, len(names))
	times := make([][]float64, len(names))
	for i, name := range names {
		rows[i].Approach = name
	}
	for r := range rounds {
		for i := range names {
			k := (i + r) % len(names)
			conn, client, closeFn, err := t.stormConnector(names[k])
			if err != nil {
				return res, err
			}
			took, ok, tooMany, other, firstErr := storm(ctx, conn, n)
			closeFn()
			t.waitSessionsGone(ctx, t.DB.User)
			row := &rows[k]
			row.Connected += ok
			row.TooMany += tooMany
			row.Errors += other
			if firstErr != nil && row.FirstError == "" {
				row.FirstError = firstErr.Error()
			}
			if client != nil {
				row.CallsPerRound = max(row.CallsPerRound, client.Calls())
			}
			times[k] = append(times[k], millis(took))
		}
	}
	for i := range rows {
		rows[i].AllConnectedMS = median(times[i])
	}
	res.Rows = rows
	if t.Engine == testdb.EngineMariaDB {
		var backlog int
		if err := t.DB.Admin.QueryRowContext(ctx, "SELECT @@back_log").Scan(&backlog); err == nil && n > backlog {
			res.Note = fmt.Sprintf("MariaDB listens with back_log = %d: when more connects than that arrive at once, the kernel drops SYNs "+
				"and the client retransmits after 1 s, so \"time to all connected\" jumps by a second for whichever storm arrives the most at once.", backlog)
		}
	}
	return res, nil
}

// stormConnector returns a cold connector for the approach.
func (t *Target) stormConnector(approach string) (driver.Connector, *CountingClient, func(), error) {
	if approach == Raw {
		c, err := t.Raw(t.DB.User, t.DB.Password)
		return c, nil, func() {}, err
	}
	arn, err := t.NewSecret(t.DB.User, t.DB.Password, false)
	if err != nil {
		return nil, nil, nil, err
	}
	client := &CountingClient{Client: t.SM.Client()}
	switch approach {
	case Naive:
		c, err := t.Naive(arn, client)
		return c, client, func() {}, err
	case Refetch:
		client.Client = t.FreshClient()
		return t.GoWrapperLike(arn, client), client, func() {}, nil
	}
	c, err := t.SecretSQL(arn, client)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, client, func() { c.Close() }, nil
}

// storm starts n connects behind a barrier and returns how long until the
// last one returned and how they ended; it closes the connections.
func storm(ctx context.Context, c driver.Connector, n int) (took time.Duration, ok, tooMany, other int, firstErr error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []driver.Conn
		gate  = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			conn, err := c.Connect(ctx)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				conns = append(conns, conn)
				ok++
			case IsTooManyConnections(err):
				tooMany++
			default:
				other++
				if firstErr == nil {
					firstErr = err
				}
			}
		}()
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	took = time.Since(start)
	var errs []error
	for _, conn := range conns {
		errs = append(errs, conn.Close())
	}
	if err := errors.Join(errs...); err != nil && firstErr == nil {
		firstErr = err
	}
	return took, ok, tooMany, other, firstErr
}
