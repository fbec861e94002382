package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// Parts of the suite, for Config.Parts.
const (
	PartConnect = "connect"
	PartQuery   = "query"
	PartStorm   = "storm"
	PartDrill   = "drill"
	PartMemory  = "memory"
)

// AllParts lists the parts in the order they run.
func AllParts() []string { return []string{PartConnect, PartQuery, PartStorm, PartDrill, PartMemory} }

// Config sets what the suite runs. [DefaultConfig] finishes in under 3
// minutes on two cores.
type Config struct {
	Engines []string `json:"engines"`
	Parts   []string `json:"parts"`

	ConnectRounds int `json:"connect_rounds"`
	ConnectWarmup int `json:"connect_warmup"`

	Pool        int           `json:"pool"`
	Workers     int           `json:"workers"`
	QueryRounds int           `json:"query_rounds"`
	QueryRound  time.Duration `json:"query_round_ns"`

	StormPostgres int `json:"storm_postgres"`
	StormMariaDB  int `json:"storm_mariadb"`
	StormRounds   int `json:"storm_rounds"`

	DrillWorkers  int             `json:"drill_workers"`
	DrillPool     int             `json:"drill_pool"`
	DrillLifetime time.Duration   `json:"drill_conn_max_lifetime_ns"`
	DrillWindows  []time.Duration `json:"drill_windows_ns"`
	DrillBefore   time.Duration   `json:"drill_before_ns"`
	DrillAfter    time.Duration   `json:"drill_after_ns"`
	AltWindow     time.Duration   `json:"alternating_window_ns"`
	AltRotations  int             `json:"alternating_rotations"`

	MemSecrets int `json:"memory_secrets"`
	MemRounds  int `json:"memory_connect_rounds"`

	// SMLatency is added to every GetSecretValue answer of the emulator (0:
	// loopback only).
	SMLatency time.Duration `json:"sm_get_secret_value_latency_ns"`

	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any) `json:"-"`
}

// DefaultConfig returns the configuration of `make bench`.
func DefaultConfig() Config {
	return Config{
		Engines:       testdb.Engines(),
		Parts:         AllParts(),
		ConnectRounds: 300,
		ConnectWarmup: 20,
		Pool:          16,
		Workers:       32,
		QueryRounds:   10,
		QueryRound:    300 * time.Millisecond,
		StormPostgres: 90,
		StormMariaDB:  140,
		StormRounds:   3,
		DrillWorkers:  50,
		DrillPool:     20,
		DrillLifetime: 50 * time.Millisecond,
		DrillWindows:  []time.Duration{0, 2 * time.Second, 10 * time.Second},
		DrillBefore:   time.Second,
		DrillAfter:    1500 * time.Millisecond,
		AltWindow:     2 * time.Second,
		AltRotations:  2,
		MemSecrets:    1000,
		MemRounds:     200,
	}
}

// Report is the outcome of a run.
type Report struct {
	Date         string         `json:"date"`
	GoVersion    string         `json:"go_version"`
	OS           string         `json:"os"`
	Arch         string         `json:"arch"`
	CPUModel     string         `json:"cpu_model"`
	Cores        int            `json:"cores"`
	LoadAvgStart string         `json:"loadavg_start"`
	LoadAvgEnd   string         `json:"loadavg_end"`
	DurationS    float64        `json:"duration_seconds"`
	Command      string         `json:"command"`
	Config       Config         `json:"config"`
	Engines      []EngineReport `json:"engines"`
}

// EngineReport holds the results of one engine; parts not run are nil.
type EngineReport struct {
	Engine  string         `json:"engine"`
	Server  string         `json:"server_version"`
	Connect *ConnectResult `json:"connect,omitempty"`
	Query   *QueryResult   `json:"query,omitempty"`
	Storm   *StormResult   `json:"storm,omitempty"`
	Drills  []DrillRow     `json:"drills,omitempty"`
	Memory  *MemoryResult  `json:"memory,omitempty"`
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Run runs the suite on each engine of cfg, against the test bed's servers.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	rep := &Report{
		Date: start.UTC().Format("2006-01-02 15:04 MST"), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, CPUModel: cpuModel(), Cores: runtime.NumCPU(),
		LoadAvgStart: loadAvg(), Command: strings.Join(os.Args, " "), Config: cfg,
	}
	for _, engine := range cfg.Engines {
		er, err := runEngine(ctx, &cfg, engine)
		if err != nil {
			return rep, err
		}
		rep.Engines = append(rep.Engines, er)
	}
	rep.LoadAvgEnd = loadAvg()
	rep.DurationS = time.Since(start).Seconds()
	return rep, nil
}

func runEngine(ctx context.Context, cfg *Config, engine string) (er EngineReport, err error) {
	er.Engine = engine
	db, drop, err := testdb.NewStandalone(ctx, engine)
	if err != nil {
		return er, err
	}
	defer func() {
		if derr := drop(context.WithoutCancel(ctx)); derr != nil && err == nil {
			err = derr
		}
	}()
	sm := smtest.NewServer()
	defer sm.Close()
	if cfg.SMLatency > 0 {
		sm.SetLatency("GetSecretValue", cfg.SMLatency)
	}
	t, err := NewTarget(db, sm)
	if err != nil {
		return er, err
	}
	if err := db.Admin.QueryRowContext(ctx, "SELECT version()").Scan(&er.Server); err != nil {
		return er, err
	}
	if i := strings.Index(er.Server, " on "); i > 0 { // PostgreSQL's build details
		er.Server = er.Server[:i]
	}
	has := func(p string) bool { return slices.Contains(cfg.Parts, p) }
	if has(PartConnect) {
		cfg.logf("%s: connect latency, %d rounds", t.Name(), cfg.ConnectRounds)
		r, err := t.BenchConnect(ctx, cfg.ConnectRounds, cfg.ConnectWarmup)
		if err != nil {
			return er, err
		}
		er.Connect = &r
	}
	if has(PartQuery) {
		cfg.logf("%s: query throughput, %d rounds of %v", t.Name(), cfg.QueryRounds, cfg.QueryRound)
		r, err := t.BenchQuery(ctx, cfg.Pool, cfg.Workers, cfg.QueryRounds, cfg.QueryRound)
		if err != nil {
			return er, err
		}
		er.Query = &r
	}
	if has(PartStorm) {
		n := cfg.StormPostgres
		if engine == testdb.EngineMariaDB {
			n = cfg.StormMariaDB
		}
		cfg.logf("%s: cold storm of %d connects, %d rounds", t.Name(), n, cfg.StormRounds)
		r, err := t.BenchStorm(ctx, n, cfg.StormRounds)
		if err != nil {
			return er, err
		}
		er.Storm = &r
	}
	if has(PartDrill) {
		var specs []DrillSpec
		base := DrillSpec{Strategy: rotation.SingleUser, Rotations: 1, Workers: cfg.DrillWorkers, Pool: cfg.DrillPool,
			Lifetime: cfg.DrillLifetime, Before: cfg.DrillBefore, After: cfg.DrillAfter}
		for _, w := range cfg.DrillWindows {
			s := base
			s.Window = w
			specs = append(specs, s)
		}
		alt := base
		alt.Strategy, alt.Window, alt.Rotations = rotation.AlternatingUsers, cfg.AltWindow, cfg.AltRotations
		specs = append(specs, alt)
		drillers := DrillApproaches()
		for i, s := range specs {
			for j := range drillers {
				// The order of the approaches rotates from spec to spec.
				a := drillers[(i+j)%len(drillers)]
				s.Approach = a
				cfg.logf("%s: rotation drill, %s, %s, window %v", t.Name(), a, s.Strategy, s.Window)
				r, err := t.Drill(ctx, s)
				if err != nil {
					return er, err
				}
				er.Drills = append(er.Drills, r)
			}
		}
		// Report the approaches in the order of DrillApproaches.
		slices.SortStableFunc(er.Drills, func(a, b DrillRow) int {
			return slices.Index(drillers, a.Approach) - slices.Index(drillers, b.Approach)
		})
	}
	if has(PartMemory) {
		cfg.logf("%s: memory, %d secrets", t.Name(), cfg.MemSecrets)
		r, err := t.BenchMemory(ctx, cfg.MemSecrets, cfg.MemRounds)
		if err != nil {
			return er, err
		}
		er.Memory = &r
	}
	return er, nil
}

// DrillApproaches lists the approaches of the rotation drills, in the
// order of the report: secretsql, its native pool hook, then the baselines.
func DrillApproaches() []string { return []string{SecretSQL, Hooked, Refresh, Refetch} }

// ChartFile is the timeline chart of a drill's spec, relative to the
// report's directory: charts/<engine>-<strategy>-<window>.svg, e.g.
// charts/postgres-single-user-2s.svg. Every approach of one spec shares it.
// A drill without a timeline has none: "".
func ChartFile(engine string, d DrillRow) string {
	if len(d.Timeline.OK) == 0 {
		return ""
	}
	return fmt.Sprintf("charts/%s-%s-%gs.svg", engine, strings.ReplaceAll(d.Strategy, " ", "-"), d.WindowS)
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAvg returns the 1, 5 and 15 minute load averages of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return fmt.Sprintf("%s %s %s", f[0], f[1], f[2])
}
