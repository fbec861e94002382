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
			row := testDrill(t, engine, SecretSQL, tc.window)
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
			checkTimeline(t, row)
		})
	}
}

// testDrill runs a single-user drill of approach with the given window on
// a fresh emulator: 50 workers, a pool of 20 connections living 50 ms.
func testDrill(t *testing.T, engine, approach string, window time.Duration) DrillRow {
	t.Helper()
	sm := smtest.NewServer()
	t.Cleanup(sm.Close)
	target, err := NewTarget(testdb.Open(t, engine), sm)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	row, err := target.Drill(ctx, DrillSpec{
		Approach: approach, Strategy: rotation.SingleUser, Window: window, Rotations: 1,
		Workers: 50, Pool: 20, Lifetime: 50 * time.Millisecond,
		Before: 500 * time.Millisecond, After: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// checkTimeline checks that a drill's timeline accounts for every query and
// marks each rotation's setSecret before its finishSecret.
func checkTimeline(t *testing.T, row DrillRow) {
	t.Helper()
	if err := row.Timeline.Check(row.Queries-row.Failed, row.Failed, row.Rotations); err != nil {
		t.Error(err)
	}
}

// TestGoWrapperLikeDrill runs the Go-wrapper-like baseline through a
// single-user rotation with a 1 s window on both engines. It reads only
// AWSCURRENT, so connects fail during the window, and each failed connect
// made its own GetSecretValue call: at least as many calls as failed
// connects. Nothing is asserted about timing.
func TestGoWrapperLikeDrill(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			row := testDrill(t, engine, Refetch, time.Second)
			t.Logf("%d queries, %d failed; %d connects, %d failed; %d GetSecretValue calls", row.Queries, row.Failed, row.Connects, row.ConnectFailures, row.Calls)
			if row.Failed == 0 || row.ConnectFailures == 0 {
				t.Errorf("no failure during a 1 s window: %d failed queries, %d failed connects", row.Failed, row.ConnectFailures)
			}
			if row.Calls < row.ConnectFailures {
				t.Errorf("%d GetSecretValue calls for %d failed connects: each must make its own", row.Calls, row.ConnectFailures)
			}
			checkTimeline(t, row)
		})
	}
}

func TestNewTimeline(t *testing.T) {
	ms := func(v ...int) (ds []time.Duration) {
		for _, x := range v {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	tl := NewTimeline(ms(0, 99, 100, 350), ms(120, 130), ms(110), ms(340))
	want := Timeline{BucketMS: 100, OK: []int64{2, 1, 0, 1}, Failed: []int64{0, 2, 0, 0}, SetSecretMS: []float64{110}, FinishSecretMS: []float64{340}}
	if fmt.Sprint(tl) != fmt.Sprint(want) {
		t.Errorf("NewTimeline = %+v, want %+v", tl, want)
	}
	if err := tl.Check(4, 2, 1); err != nil {
		t.Error(err)
	}
	for _, bad := range []struct {
		ok, failed int64
		rotations  int
	}{{3, 2, 1}, {4, 1, 1}, {4, 2, 2}} {
		if tl.Check(bad.ok, bad.failed, bad.rotations) == nil {
			t.Errorf("Check(%d, %d, %d) = nil", bad.ok, bad.failed, bad.rotations)
		}
	}
	late := NewTimeline(nil, nil, ms(300), ms(200))
	if late.Check(0, 0, 1) == nil {
		t.Error("Check passes a setSecret after its finishSecret")
	}
}

func TestNearness(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		runs [3]int
		want string
	}{
		{16, [3]int{6, 23, 16}, "within the measured range"},
		{3, [3]int{6, 23, 16}, "0.50× the lowest run"},
		{46, [3]int{6, 23, 16}, "2.00× the highest run"},
		{0, [3]int{1, 1, 0}, "within the measured range"},
	} {
		if got := Nearness(tc.v, tc.runs); got != tc.want {
			t.Errorf("Nearness(%g, %v) = %q, want %q", tc.v, tc.runs, got, tc.want)
		}
	}
}

func TestChartFile(t *testing.T) {
	d := DrillRow{Strategy: "single user", WindowS: 2}
	if got := ChartFile("postgres", d); got != "" {
		t.Errorf("ChartFile without a timeline = %q, want none", got)
	}
	d.Timeline = NewTimeline([]time.Duration{0}, nil, nil, nil)
	if got := ChartFile("postgres", d); got != "charts/postgres-single-user-2s.svg" {
		t.Errorf("ChartFile = %q", got)
	}
}
