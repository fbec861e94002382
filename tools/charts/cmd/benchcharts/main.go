// Command benchcharts draws the timeline chart of each rotation drill in a
// report of internal/bench (docs/benchmarks.json): one SVG per engine,
// rotation strategy and window, with a series per approach, at the path of
// bench.ChartFile (charts/<engine>-<strategy>-<window>.svg, relative to the
// report's directory).
//
//	go run -C tools/charts ./cmd/benchcharts -in ../../docs/benchmarks.json
//
// `make bench` runs it after the suite.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/secretsql/secretsql/internal/bench"
	"github.com/secretsql/secretsql/tools/charts"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchcharts: ")
	in := flag.String("in", "docs/benchmarks.json", "the report of internal/bench")
	out := flag.String("out", "", "directory the chart paths are relative to (default: the report's)")
	flag.Parse()
	if *out == "" {
		*out = filepath.Dir(*in)
	}
	paths, err := run(*in, *out)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range paths {
		log.Printf("wrote %s", p)
	}
}

// run draws the charts of the report in and returns the files it wrote.
func run(in, out string) ([]string, error) {
	b, err := os.ReadFile(in)
	if err != nil {
		return nil, err
	}
	var r bench.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	var written []string
	for _, e := range r.Engines {
		byChart := map[string]*charts.Chart{}
		var order []string
		for _, d := range e.Drills {
			name := bench.ChartFile(e.Engine, d)
			if name == "" {
				continue
			}
			c := byChart[name]
			if c == nil {
				c = &charts.Chart{Title: title(&e, d)}
				byChart[name] = c
				order = append(order, name)
			}
			c.Series = append(c.Series, charts.Series{Name: d.Approach, Timeline: d.Timeline})
		}
		for _, name := range order {
			path := filepath.Join(out, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return written, err
			}
			if err := byChart[name].WriteFile(path); err != nil {
				return written, fmt.Errorf("%s: %w", path, err)
			}
			written = append(written, path)
		}
	}
	if len(written) == 0 {
		return nil, fmt.Errorf("%s has no drill with a chart", in)
	}
	return written, nil
}

// title describes a drill of e.
func title(e *bench.EngineReport, d bench.DrillRow) string {
	rot := "one rotation"
	if d.Rotations > 1 {
		rot = fmt.Sprintf("%d rotations", d.Rotations)
	}
	return fmt.Sprintf("%s, %s, %s, setSecret→finishSecret window %g s", e.Name(), d.Strategy, rot, d.WindowS)
}
