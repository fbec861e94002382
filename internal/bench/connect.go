package bench

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"
)

// Names of the compared approaches, as they appear in the report.
const (
	Raw       = "raw driver (literal password)"
	SecretSQL = "secretsql"
	Naive     = "naive (GetSecretValue per connect)"
	Refresh   = "JDBC-like baseline"
	Refetch   = "Go-wrapper-like baseline"
	Hooked    = "native driver + secretsql hook"
)

// RawControlConnect names the raw driver measured a second time in the
// connect benchmark: an A/A control whose ratio shows the noise.
const RawControlConnect = "raw driver again (A/A control)"

// ConnectResult is part 1: the latency of one new connection.
type ConnectResult struct {
	Rounds int          `json:"rounds"`
	Rows   []ConnectRow `json:"rows"`
}

// ConnectRow is one approach's connect latency.
type ConnectRow struct {
	Approach string `json:"approach"`
	Dist
	// VsRaw is this approach's median over the raw driver's.
	VsRaw float64 `json:"vs_raw"`
	// Calls is the number of GetSecretValue calls during the measured rounds.
	Calls int64 `json:"get_secret_value_calls"`
}

type alternative struct {
	name   string
	conn   driver.Connector
	client *CountingClient // nil for the raw driver
}

// connectAlternatives returns the raw, secretsql, naive and raw-again
// connectors for a fresh secret of the target's user; close releases them.
func (t *Target) connectAlternatives() (alts []alternative, close func(), err error) {
	arn, err := t.NewSecret(t.DB.User, t.DB.Password, false)
	if err != nil {
		return nil, nil, err
	}
	raw, err := t.Raw(t.DB.User, t.DB.Password)
	if err != nil {
		return nil, nil, err
	}
	sqClient := &CountingClient{Client: t.SM.Client()}
	sq, err := t.SecretSQL(arn, sqClient)
	if err != nil {
		return nil, nil, err
	}
	naiveClient := &CountingClient{Client: t.SM.Client()}
	naive, err := t.Naive(arn, naiveClient)
	if err != nil {
		sq.Close()
		return nil, nil, err
	}
	return []alternative{{Raw, raw, nil}, {SecretSQL, sq, sqClient}, {Naive, naive, naiveClient}, {RawControlConnect, raw, nil}},
		func() { sq.Close() }, nil
}

// BenchConnect opens and closes one connection per approach per round,
// rotating the order of the approaches from round to round (the raw driver
// twice: the second is an A/A control), after warmup
// rounds that are not measured (they fill secretsql's cache).
func (t *Target) BenchConnect(ctx context.Context, rounds, warmup int) (ConnectResult, error) {
	alts, closeAll, err := t.connectAlternatives()
	if err != nil {
		return ConnectResult{}, err
	}
	defer closeAll()
	samples := make([][]time.Duration, len(alts))
	for r := -warmup; r < rounds; r++ {
		if r == 0 {
			for _, a := range alts {
				if a.client != nil {
					a.client.Reset()
				}
			}
		}
		for i := range alts {
			k := (i + max(r, 0)) % len(alts)
			a := alts[k]
			start := time.Now()
			conn, err := a.conn.Connect(ctx)
			d := time.Since(start)
			if err != nil {
				return ConnectResult{}, fmt.Errorf("%s connect (%s): %w", t.Name(), a.name, err)
			}
			conn.Close()
			if r >= 0 {
				samples[k] = append(samples[k], d)
			}
		}
	}
	res := ConnectResult{Rounds: rounds}
	for i, a := range alts {
		row := ConnectRow{Approach: a.name, Dist: summarize(samples[i])}
		if a.client != nil {
			row.Calls = a.client.Calls()
		}
		res.Rows = append(res.Rows, row)
	}
	for i := range res.Rows {
		res.Rows[i].VsRaw = ratio(res.Rows[i].MedianUS, res.Rows[0].MedianUS)
	}
	return res, nil
}
