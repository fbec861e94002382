package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretsql/secretsql"
	_ "github.com/secretsql/secretsql/engines/mysql"
	_ "github.com/secretsql/secretsql/engines/postgres"
	"github.com/secretsql/secretsql/internal/bench"
	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/smtest"
	"github.com/secretsql/secretsql/tools/charts"
)

// summary is the demo's result.
type summary struct {
	Queries        int64
	Failed         int64
	FirstError     error
	Fetches        int64         // GetSecretValue calls made by secretsql
	AllFetches     int           // GetSecretValue calls the emulator received (rotation included)
	Connections    int64         // connections secretsql opened
	Recovery       time.Duration // password change → first successful new connection
	Recovered      bool
	OldVersion     string
	NewVersion     string
	AuthFailures   int64 // logins the database refused (retried by secretsql)
	PendingAdopted bool
	Timeline       bench.Timeline // queries per 100 ms, setSecret and finishSecret
}

// connCounter wraps the secretsql connector to time new connections.
type connCounter struct {
	*secretsql.Connector
	opened   atomic.Int64
	mu       sync.Mutex
	changed  time.Time // when the database got the new password
	firstNew time.Time // first connection opened after that
}

func (c *connCounter) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err == nil {
		c.opened.Add(1)
		c.mu.Lock()
		if !c.changed.IsZero() && c.firstNew.IsZero() {
			c.firstNew = time.Now()
		}
		c.mu.Unlock()
	}
	return conn, err
}

func demo(ctx context.Context, o options, out io.Writer) (*summary, error) {
	var (
		b   *backend
		err error
	)
	switch {
	case o.mysqlDSN != "":
		b, err = realMySQL(ctx, o.mysqlDSN)
	case o.pgURL != "":
		b, err = realPostgres(ctx, o.pgURL, o.pgGroup)
	default:
		b, err = embeddedMySQL(ctx)
	}
	if err != nil {
		return nil, err
	}
	defer b.close()

	sm, err := smtest.Start()
	if err != nil {
		return nil, err
	}
	defer sm.Close()
	arn := sm.CreateSecret("demo/"+b.engine, b.secretJSON(b.password))
	fmt.Fprintf(out, "database:        %s (user %s, database %s)\n", b.name, b.user, b.database)
	fmt.Fprintf(out, "secrets manager: in-process emulator at %s\n", sm.URL)
	fmt.Fprintf(out, "secret:          %s\n", arn)
	fmt.Fprintf(out, "driver:          secretsmanager-%s, %d workers, SetConnMaxLifetime(%s)\n\n", b.engine, o.workers, o.lifetime)

	sum := &summary{}
	var fetches, authFailures atomic.Int64
	var pendingAdopted atomic.Bool
	events := make(chan string, 64)
	emit := func(msg string) {
		select {
		case events <- msg:
		default: // never block a worker or the rotation on the display
		}
	}
	observer := func(ev secretsql.Event) {
		switch ev.Kind {
		case secretsql.EventFetch, secretsql.EventFetchFailed:
			fetches.Add(1)
		case secretsql.EventAuthFailed:
			if authFailures.Add(1) > 1 {
				return // report the first only
			}
		case secretsql.EventPendingAdopted:
			pendingAdopted.Store(true)
		}
		msg := fmt.Sprintf("secretsql: %s %s version %s", ev.Kind, ev.Stage, short(ev.VersionID))
		if ev.Kind == secretsql.EventAuthFailed {
			msg += " (the database rejected the password; looking for newer credentials)"
		}
		emit(msg)
	}
	conn, err := secretsql.NewConnector(b.engine, arn, secretsql.WithClient(sm.Client()), secretsql.WithObserver(observer))
	if err != nil {
		return nil, err
	}
	cc := &connCounter{Connector: conn}
	db := sql.OpenDB(cc)
	defer db.Close()
	db.SetMaxOpenConns(o.workers)
	db.SetMaxIdleConns(o.workers)
	// Short, so that new connections (and logins) keep being made during
	// the rotation. A real application uses minutes.
	db.SetConnMaxLifetime(o.lifetime)

	start := time.Now()
	// Cancelled (not a deadline) at the end: a deadline would also bound
	// each dial, whose "i/o timeout" could arrive before runCtx.Err() says
	// the run is over, and count as a failure.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	time.AfterFunc(o.duration, stop)
	var queries, failed atomic.Int64
	var firstErr atomic.Value
	// For the timeline, the end times (from start) of the queries, which
	// each worker adds under endsMu when it stops, and of the rotation's
	// setSecret and finishSecret (this goroutine's).
	var (
		endsMu                  sync.Mutex
		okEnds, failedEnds      []time.Duration
		setSecret, finishSecret []time.Duration
	)
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			var myOK, myFailed []time.Duration
			defer func() {
				endsMu.Lock()
				okEnds, failedEnds = append(okEnds, myOK...), append(failedEnds, myFailed...)
				endsMu.Unlock()
			}()
			for runCtx.Err() == nil {
				var n int
				qctx, cancel := context.WithTimeout(runCtx, 10*time.Second)
				err := db.QueryRowContext(qctx, "SELECT COUNT(*) FROM items").Scan(&n)
				cancel()
				switch {
				case err == nil && n == 3:
					queries.Add(1)
					myOK = append(myOK, time.Since(start))
				case runCtx.Err() != nil:
				default:
					if err == nil {
						err = fmt.Errorf("SELECT COUNT(*) returned %d rows, want 3", n)
					}
					failed.Add(1)
					myFailed = append(myFailed, time.Since(start))
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}

	// Progress lines and events.
	var pwg sync.WaitGroup
	pwg.Go(func() {
		tick := time.NewTicker(o.interval)
		defer tick.Stop()
		var last int64
		lastAt := start
		for {
			select {
			case msg := <-events:
				fmt.Fprintf(out, "%6.2fs  %s\n", time.Since(start).Seconds(), msg)
			case now := <-tick.C:
				q := queries.Load()
				rate := float64(q-last) / now.Sub(lastAt).Seconds()
				last, lastAt = q, now
				ver := "?"
				if r, err := conn.Resolve(runCtx); err == nil {
					// The labels the version in use carries now.
					ver = fmt.Sprintf("%s %v", short(r.VersionID), sm.SecretVersions(arn)[r.VersionID])
				}
				fmt.Fprintf(out, "%6.2fs  %8.0f queries/s  failed %d  GetSecretValue %d  connections %d  secret version %s\n",
					time.Since(start).Seconds(), rate, failed.Load(), fetches.Load(), cc.opened.Load(), ver)
			case <-runCtx.Done():
				for {
					select {
					case msg := <-events:
						fmt.Fprintf(out, "%6.2fs  %s\n", time.Since(start).Seconds(), msg)
					default:
						return
					}
				}
			}
		}
	})

	// The rotation, after the warm-up.
	var rotErr error
	var res *rotation.Result
	if sleep(runCtx, o.before) {
		rot := rotation.Rotator{
			Client:      sm.Client(),
			DB:          b,
			NewPassword: newPassword,
			Hook: func(ctx context.Context, next rotation.Step) error {
				switch next {
				case rotation.SetSecret:
					emit("rotation: createSecret done (new password staged AWSPENDING); setSecret: ALTER USER … IDENTIFIED BY the new password")
				case rotation.TestSecret:
					cc.mu.Lock()
					cc.changed = time.Now()
					cc.mu.Unlock()
					setSecret = append(setSecret, time.Since(start))
					emit(fmt.Sprintf("rotation: setSecret done: the database has the new password, AWSCURRENT still the old one; holding this window for %s", o.window))
					sleep(ctx, o.window)
				case rotation.FinishSecret:
					emit("rotation: testSecret done; finishSecret: AWSCURRENT moves to the new version")
				}
				return nil
			},
		}
		res, rotErr = rot.Rotate(runCtx, arn)
		if rotErr == nil {
			finishSecret = append(finishSecret, time.Since(start))
			emit("rotation: finished")
		}
	}
	wg.Wait()
	stop()
	pwg.Wait()

	sum.Queries, sum.Failed = queries.Load(), failed.Load()
	if e, ok := firstErr.Load().(error); ok {
		sum.FirstError = e
	}
	sum.Fetches, sum.AllFetches = fetches.Load(), sm.Calls("GetSecretValue")
	sum.Connections, sum.AuthFailures, sum.PendingAdopted = cc.opened.Load(), authFailures.Load(), pendingAdopted.Load()
	cc.mu.Lock()
	if !cc.changed.IsZero() && !cc.firstNew.IsZero() {
		sum.Recovery, sum.Recovered = cc.firstNew.Sub(cc.changed), true
	}
	cc.mu.Unlock()
	if res != nil {
		sum.OldVersion, sum.NewVersion = res.PreviousVersionID, res.VersionID
	}
	sum.Timeline = bench.NewTimeline(okEnds, failedEnds, setSecret, finishSecret)
	printSummary(out, sum)
	if o.chart != "" {
		server, _, _ := strings.Cut(b.name, " at ")
		c := charts.Chart{Title: fmt.Sprintf("secretsql demo: %s, %d workers, setSecret→finishSecret window %s", server, o.workers, o.window),
			Series: []charts.Series{{Name: "secretsql", Timeline: sum.Timeline}}}
		if err := c.WriteFile(o.chart); err != nil {
			return sum, fmt.Errorf("--chart: %w", err)
		}
		fmt.Fprintf(out, "  chart                 %s\n", o.chart)
	}
	if rotErr != nil && ctx.Err() == nil {
		return sum, fmt.Errorf("rotation: %w", rotErr)
	}
	if res == nil && ctx.Err() == nil {
		return sum, fmt.Errorf("the rotation did not run: --duration (%s) too short for --before (%s)", o.duration, o.before)
	}
	return sum, nil
}

func printSummary(out io.Writer, s *summary) {
	fmt.Fprintln(out, "\nsummary")
	fmt.Fprintf(out, "  queries               %d\n", s.Queries)
	fmt.Fprintf(out, "  failed queries        %d\n", s.Failed)
	if s.FirstError != nil {
		fmt.Fprintf(out, "  first failure         %v\n", s.FirstError)
	}
	fmt.Fprintf(out, "  GetSecretValue calls  %d by secretsql (%d in all, with the rotation's own)\n", s.Fetches, s.AllFetches)
	times := "times"
	if s.AuthFailures == 1 {
		times = "time"
	}
	fmt.Fprintf(out, "  connections opened    %d (the database refused the old password %d %s; secretsql retried each with AWSPENDING)\n", s.Connections, s.AuthFailures, times)
	if s.Recovered {
		fmt.Fprintf(out, "  recovery time         %s (password change → first successful new connection)\n", s.Recovery.Round(10*time.Microsecond))
	} else {
		fmt.Fprintf(out, "  recovery time         - (no new connection after the password change)\n")
	}
	if s.NewVersion != "" {
		fmt.Fprintf(out, "  secret version        %s → %s (AWSPENDING used during the window: %v)\n", short(s.OldVersion), short(s.NewVersion), s.PendingAdopted)
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
