package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// PeerMeasurement is one drill of the AWS Advanced Go Wrapper, measured
// side by side with secretsql outside this repository (its modules are not
// served by the Go module proxy): three runs of the drill of this suite
// with its default parameters.
type PeerMeasurement struct {
	Engine  string
	WindowS float64
	Failed  [3]int // failed queries, per run
	Calls   [3]int // GetSecretValue calls by the wrapper, per run
}

// Where and when the peer was measured.
const (
	PeerName   = "AWS Advanced Go Wrapper (awssql-pgx / awssql-mysql, plugins=awsSecretsManager)"
	PeerCommit = "877b430d16f1ad3c2b4e9460359f71bb378d5d41"
	PeerDate   = "2026-11-30"
)

// PeerMeasurements are the peer's single-user rotation drills (one
// rotation each; 50 workers, a pool of 20 connections living 50 ms).
func PeerMeasurements() []PeerMeasurement {
	return []PeerMeasurement{
		{"postgres", 0, [3]int{1, 1, 0}, [3]int{2, 2, 1}},
		{"postgres", 2, [3]int{6, 23, 16}, [3]int{7, 24, 17}},
		{"postgres", 10, [3]int{63, 148, 102}, [3]int{64, 149, 103}},
		{"mariadb", 0, [3]int{2, 1, 0}, [3]int{3, 2, 1}},
		{"mariadb", 2, [3]int{105, 46, 92}, [3]int{106, 47, 93}},
		{"mariadb", 10, [3]int{480, 402, 793}, [3]int{481, 403, 794}},
	}
}

// peerSecretSQLChangeToNew is secretsql's time from the password change to
// the first new connection in the same runs as the peer's (the 0, 2 and 10
// s windows): a gauge of how loaded that machine was.
var peerSecretSQLChangeToNew = map[string]string{"postgres": "156–680 ms", "mariadb": "3–58 ms"}

// Nearness tells where v lies against the measured runs: "within the
// measured range" or how many times the nearest end of the range it is.
func Nearness(v float64, runs [3]int) string {
	lo, hi := float64(slices.Min(runs[:])), float64(slices.Max(runs[:]))
	switch {
	case v >= lo && v <= hi:
		return "within the measured range"
	case v < lo:
		return fmt.Sprintf("%.2f× the lowest run", v/lo)
	case lo == 0 && hi == 0:
		return "above the measured 0"
	}
	return fmt.Sprintf("%.2f× the highest run", v/hi)
}

func runs(r [3]int) string { return fmt.Sprintf("%d / %d / %d", r[0], r[1], r[2]) }

// peer compares the Go-wrapper-like baseline's single-user drills with the
// peer's measurements.
func (r *Report) peer(t table) {
	b := t.b
	var rows [][]string
	for _, e := range r.Engines {
		for _, d := range e.Drills {
			if d.Approach != Refetch || d.Strategy != "single user" || d.Rotations != 1 {
				continue
			}
			for _, p := range PeerMeasurements() {
				if p.Engine != e.Engine || p.WindowS != d.WindowS {
					continue
				}
				rows = append(rows, []string{e.Name(), fmt.Sprintf("%gs", d.WindowS),
					fmt.Sprint(d.Failed), runs(p.Failed), Nearness(float64(d.Failed), p.Failed),
					fmt.Sprintf("%g", d.CallsPerRotation), runs(p.Calls), Nearness(d.CallsPerRotation, p.Calls)})
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	c := r.Config
	fmt.Fprintf(b, "## The Go-wrapper-like baseline against the measured peer\n\n")
	fmt.Fprintf(b, "The %s was measured on %s at commit `%s`, side by side with secretsql, in three runs of this suite's single-user drill (50 workers, a pool of 20 connections living 50 ms); it cannot be built from this repository. `bench.GoWrapperLike` models its credentials policy (AWSCURRENT only; each failing connect makes its own GetSecretValue call, through a new AWS client, and logs in again at once; no coalescing of cold reads). This run's drills:\n\n",
		PeerName, PeerDate, PeerCommit)
	if c.DrillWorkers != 50 || c.DrillPool != 20 || c.DrillLifetime != 50*time.Millisecond {
		fmt.Fprintf(b, "**This run's drill differs** (%d workers, pool %d, lifetime %v): the rows below are not comparable.\n\n", c.DrillWorkers, c.DrillPool, c.DrillLifetime)
	}
	t.header("engine", "window", "failed queries: model", "peer (3 runs)", "model vs peer", "GetSecretValue / rotation: model", "peer (3 runs)", "model vs peer")
	for _, row := range rows {
		t.row(row...)
	}
	b.WriteString("\nThe peer's runs vary by up to 3× between runs on the loaded machine; one run of the model is one more sample, so \"within the measured range\" is the test, not equality. Structurally the model behaves as the peer did: GetSecretValue calls per rotation are its failed queries plus one (the read that finally logs in), failures grow with the window, and a cold storm makes up to a call per connect. Its counts depend on how fast failed connects come back, hence on the machine's load: secretsql's time from the password change to the first new connection, measured in the same runs, shows how loaded each machine was.\n\n")
	t.header("engine", "secretsql change → first new connection: this run (single-user drills)", "in the peer's runs")
	for _, e := range r.Engines {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, d := range e.Drills {
			if v := d.LastChangeToNewMS(); d.Approach == SecretSQL && d.Strategy == "single user" && v >= 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if want, ok := peerSecretSQLChangeToNew[e.Engine]; ok && lo <= hi {
			t.row(e.Name(), fmtMS(lo)+" – "+fmtMS(hi), want)
		}
	}
	b.WriteString("\n")
}
