// Package charts draws the timeline charts of secretsql's rotation drills
// and of the demo: for each approach, the queries that succeeded and those
// that failed per bucket of time (100 ms), with each rotation's setSecret
// and finishSecret marked, as SVG with gonum.org/v1/plot.
//
// It is a module of its own (github.com/secretsql/secretsql/tools/charts),
// so that the plotting library stays out of secretsql's go.mod. It requires
// secretsql's module through a replace directive (../..) and draws
// internal/bench's Timeline; its command benchcharts reads internal/bench's
// Report, the charts of `make bench`, from docs/benchmarks.json.
// examples/demo draws its own run with --chart.
package charts
