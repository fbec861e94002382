package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// TestDrill runs a short rotation drill on both engines: 50 workers, a pool
// of 20 connections living 50 ms, a single-user rotation holding its
// setSecret→finishSecret window for 2 s, and one with no window at all
// (finishSecret right after setSecret, which once made a connect miss the
// new version between its reads). With secretsql no query may fail, and the
// application may call GetSecretValue at most 3 times per rotation
// (AWSPENDING, AWSCURRENT when AWSPENDING is already gone, plus one if a
// refresh races the change). Timings are logged, never asserted.
func TestDrill(t *testing.T) {
	for _, tc := range []struct {
		engine string
		window time.Duration
	}{{testdb.EnginePostgres, 2 * time.Second}, {testdb.EngineMariaDB, 2 * time.Second}, {testdb.EnginePostgres, 0}, {testdb.EngineMariaDB, 0}} {
		engine := tc.engine
		t.Run(fmt.Sprintf("%s/window=%v", engine, tc.window), func(t *testing.T) {
			sm := smtest.NewServer()
			t.Cleanup(sm.Close)
			target, err := NewTarget(testdb.Open(t, engine), sm)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			row, err := target.Drill(ctx, DrillSpec{
				Approach: SecretSQL, Strategy: rotation.SingleUser, Window: tc.window, Rotations: 1,
				Workers: 50, Pool: 20, Lifetime: 50 * time.Millisecond,
				Before: 500 * time.Millisecond, After: time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d queries, %d failed; %d connects, %d failed; %d GetSecretValue calls; change→first new connection %.1f ms; p99 %.1f ms before, %.1f ms during",
				row.Queries, row.Failed, row.Connects, row.ConnectFailures, row.Calls, row.LastChangeToNewMS(),
				row.Before.P99US/1000, row.During.P99US/1000)
			if row.Failed != 0 {
				t.Errorf("%d of %d queries failed during the rotation, want 0; first: %s", row.Failed, row.Queries, row.FirstError)
			}
			if row.Calls > 3 {
				t.Errorf("%d GetSecretValue calls for one rotation, want at most 3", row.Calls)
			}
			if row.Queries == 0 || row.Connects < 2 {
				t.Errorf("no load: %d queries, %d connects", row.Queries, row.Connects)
			}
		})
	}
}
