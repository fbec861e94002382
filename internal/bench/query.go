package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretsql/secretsql/internal/testdb"
)

// QueryResult is part 2: throughput through a connection pool.
type QueryResult struct {
	Pool    int        `json:"pool"`
	Workers int        `json:"workers"`
	Rounds  int        `json:"rounds"`
	RoundS  float64    `json:"round_seconds"`
	Rows    []QueryRow `json:"rows"`
}

// QueryRow is one approach's throughput for one query.
type QueryRow struct {
	Query    string `json:"query"`
	Approach string `json:"approach"`
	// QPS is the median over the rounds of queries per second.
	QPS float64 `json:"qps"`
	// RoundQPS is the queries per second of each round, in order.
	RoundQPS []float64 `json:"round_qps"`
	// Latency is the distribution of every query's latency, all rounds.
	Latency Dist `json:"latency"`
	// VsRaw is the median over the rounds of this approach's QPS over the
	// raw driver's QPS in the same round, for the same query.
	VsRaw float64 `json:"vs_raw"`
	// VsRawIQR is the interquartile range of the per-round ratios.
	VsRawIQR [2]float64 `json:"vs_raw_iqr"`
	Errors   int64      `json:"errors"`
	// Connects is the number of connects the pool made during the rounds.
	Connects int64 `json:"connects_during_rounds"`
}

// kvRows is the size of the table of the indexed read.
const kvRows = 10000

// RawControl names the second raw-driver pool of the throughput benchmark:
// an A/A control whose ratio to the first shows the measurement's noise.
const RawControl = "raw driver, second pool (A/A control)"

// BenchQuery runs SELECT 1 and an indexed point read through three pools of
// pool connections — the raw driver, secretsql, and the raw driver again as
// an A/A control — with workers goroutines, in rounds of d that rotate
// through the pools.
func (t *Target) BenchQuery(ctx context.Context, pool, workers, rounds int, d time.Duration) (QueryResult, error) {
	res := QueryResult{Pool: pool, Workers: workers, Rounds: rounds, RoundS: d.Seconds()}
	arn, err := t.NewSecret(t.DB.User, t.DB.Password, false)
	if err != nil {
		return res, err
	}
	raw, err := t.Raw(t.DB.User, t.DB.Password)
	if err != nil {
		return res, err
	}
	sq, err := t.SecretSQL(arn, t.SM.Client())
	if err != nil {
		return res, err
	}
	// Each pool's connector is observed, to show that no pool reconnects
	// during the rounds: after the warm-up secretsql is out of the query
	// path entirely (database/sql talks to the native connections).
	obs := []*observed{{inner: raw}, {inner: sq}, {inner: raw}}
	names := []string{Raw, SecretSQL, RawControl}
	dbs := make([]*sql.DB, len(obs))
	for i, o := range obs {
		dbs[i] = sql.OpenDB(o) // closing the secretsql pool closes sq
		dbs[i].SetMaxOpenConns(pool)
		dbs[i].SetMaxIdleConns(pool)
	}
	defer func() {
		for _, db := range dbs {
			db.Close()
		}
		t.waitSessionsGone(ctx, t.DB.User)
	}()
	if err := t.createKV(ctx, dbs[0]); err != nil {
		return res, err
	}
	point := "SELECT v FROM bench_kv WHERE id = $1"
	if t.Engine == testdb.EngineMariaDB {
		point = "SELECT v FROM bench_kv WHERE id = ?"
	}
	queries := []struct {
		name string
		run  func(ctx context.Context, db *sql.DB) error
	}{
		{"SELECT 1", func(ctx context.Context, db *sql.DB) error {
			var n int
			return db.QueryRowContext(ctx, "SELECT 1").Scan(&n)
		}},
		{"point read (PK of 10k rows)", func(ctx context.Context, db *sql.DB) error {
			var v string
			return db.QueryRowContext(ctx, point, 1+rand.IntN(kvRows)).Scan(&v)
		}},
	}
	for _, q := range queries {
		// Warm up: fill the pools and the servers' caches.
		for _, db := range dbs {
			load(ctx, db, workers, d/2, q.run)
		}
		qps := make([][]float64, len(dbs))
		lat := make([][]time.Duration, len(dbs))
		errs := make([]int64, len(dbs))
		connects := make([]int64, len(dbs))
		for k, o := range obs {
			connects[k] = -o.connects.Load()
		}
		for r := range rounds {
			for i := range dbs {
				k := (i + r) % len(dbs)
				n, e, l := load(ctx, dbs[k], workers, d, q.run)
				qps[k] = append(qps[k], float64(n)/d.Seconds())
				lat[k] = append(lat[k], l...)
				errs[k] += e
			}
		}
		for k := range dbs {
			row := QueryRow{Query: q.name, Approach: names[k], QPS: median(qps[k]), RoundQPS: qps[k],
				Latency: summarize(lat[k]), Errors: errs[k], Connects: connects[k] + obs[k].connects.Load(), VsRaw: 1}
			if k > 0 {
				// Paired by round: the pools of a round saw about the same
				// load of the (shared) machine.
				var paired []float64
				for r := range rounds {
					paired = append(paired, ratio(qps[k][r], qps[0][r]))
				}
				row.VsRaw = median(paired)
				row.VsRawIQR = [2]float64{quantileF(paired, 0.25), quantileF(paired, 0.75)}
			}
			res.Rows = append(res.Rows, row)
		}
	}
	return res, nil
}

// createKV creates and fills the table of the indexed read, as the
// database's own user.
func (t *Target) createKV(ctx context.Context, db *sql.DB) error {
	stmts := []string{
		"DROP TABLE IF EXISTS bench_kv",
		"CREATE TABLE bench_kv (id integer PRIMARY KEY, v varchar(64) NOT NULL)",
		fmt.Sprintf("INSERT INTO bench_kv SELECT i, 'value-' || i FROM generate_series(1, %d) AS i", kvRows),
		"ANALYZE bench_kv",
	}
	if t.Engine == testdb.EngineMariaDB {
		// 10^4 rows from four cross-joined digit tables (recursive CTEs are
		// limited by max_recursive_iterations).
		const digits = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 " +
			"UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
		stmts[2] = "INSERT INTO bench_kv SELECT n, CONCAT('value-', n) FROM (SELECT 1 + a.d + 10*b.d + 100*c.d + 1000*e.d AS n FROM " +
			digits + " a, " + digits + " b, " + digits + " c, " + digits + " e) s"
		stmts[3] = "ANALYZE TABLE bench_kv"
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %s: %w", t.Name(), s, err)
		}
	}
	return nil
}

// load runs workers goroutines calling run for d and returns the number of
// successful queries, of failed ones and the latency of each success.
func load(ctx context.Context, db *sql.DB, workers int, d time.Duration,
	run func(context.Context, *sql.DB) error) (ok, failed int64, lat []time.Duration) {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		nOK    atomic.Int64
		nErr   atomic.Int64
		cutoff = time.Now().Add(d)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			for time.Now().Before(cutoff) && ctx.Err() == nil {
				start := time.Now()
				if err := run(ctx, db); err != nil {
					nErr.Add(1)
					continue
				}
				local = append(local, time.Since(start))
				nOK.Add(1)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return nOK.Load(), nErr.Load(), lat
}
