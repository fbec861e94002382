// Command secretsql-bench runs secretsql's macro benchmark suite
// (internal/bench) against the test bed's PostgreSQL and MariaDB
// (scripts/testbed.sh) and the smtest Secrets Manager emulator. It prints
// the report as Markdown and writes it to <out>/BENCHMARKS.md and
// <out>/benchmarks.json.
//
//	go run ./internal/bench/cmd/secretsql-bench [flags]
//
// `make bench` runs it with the defaults, which finish in under 3 minutes.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/secretsql/secretsql/internal/bench"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("secretsql-bench: ")
	cfg := bench.DefaultConfig()
	engines := flag.String("engines", strings.Join(cfg.Engines, ","), "comma-separated engines: postgres, mariadb")
	parts := flag.String("parts", strings.Join(cfg.Parts, ","), "comma-separated parts: "+strings.Join(bench.AllParts(), ", "))
	windows := flag.String("drill-windows", "0s,2s,10s", "comma-separated setSecret→finishSecret windows of the single-user drills")
	out := flag.String("out", "docs", `directory for BENCHMARKS.md and benchmarks.json ("" writes nothing)`)
	flag.IntVar(&cfg.ConnectRounds, "connect-rounds", cfg.ConnectRounds, "measured connect rounds per approach")
	flag.IntVar(&cfg.Pool, "pool", cfg.Pool, "connections of the throughput pools")
	flag.IntVar(&cfg.Workers, "workers", cfg.Workers, "workers of the throughput benchmark")
	flag.IntVar(&cfg.QueryRounds, "query-rounds", cfg.QueryRounds, "throughput rounds per approach and query")
	flag.DurationVar(&cfg.QueryRound, "query-round", cfg.QueryRound, "length of one throughput round")
	flag.IntVar(&cfg.StormPostgres, "storm-postgres", cfg.StormPostgres, "concurrent first connects on PostgreSQL (max_connections is 100 by default)")
	flag.IntVar(&cfg.StormMariaDB, "storm-mariadb", cfg.StormMariaDB, "concurrent first connects on MariaDB (max_connections is 151 by default)")
	flag.IntVar(&cfg.StormRounds, "storm-rounds", cfg.StormRounds, "storms per approach")
	flag.IntVar(&cfg.DrillWorkers, "drill-workers", cfg.DrillWorkers, "workers of the rotation drill")
	flag.IntVar(&cfg.DrillPool, "drill-pool", cfg.DrillPool, "connections of the rotation drill's pool")
	flag.DurationVar(&cfg.DrillLifetime, "drill-lifetime", cfg.DrillLifetime, "ConnMaxLifetime of the rotation drill's pool")
	flag.DurationVar(&cfg.DrillBefore, "drill-before", cfg.DrillBefore, "load before the first rotation")
	flag.DurationVar(&cfg.DrillAfter, "drill-after", cfg.DrillAfter, "load after the last rotation")
	flag.DurationVar(&cfg.AltWindow, "alt-window", cfg.AltWindow, "setSecret→finishSecret window of the alternating-users drill")
	flag.IntVar(&cfg.AltRotations, "alt-rotations", cfg.AltRotations, "rotations of the alternating-users drill")
	flag.IntVar(&cfg.MemSecrets, "mem-secrets", cfg.MemSecrets, "secrets of the memory benchmark")
	flag.DurationVar(&cfg.SMLatency, "sm-latency", cfg.SMLatency, "latency the emulator adds to every GetSecretValue")
	flag.Parse()

	cfg.Engines = splitList(*engines)
	cfg.Parts = splitList(*parts)
	cfg.DrillWindows = nil
	for _, w := range splitList(*windows) {
		d, err := time.ParseDuration(w)
		if err != nil {
			log.Fatalf("-drill-windows: %v", err)
		}
		cfg.DrillWindows = append(cfg.DrillWindows, d)
	}
	cfg.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	md := rep.Markdown()
	fmt.Print(md)
	if *out == "" {
		return
	}
	js, err := rep.JSON()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	for name, data := range map[string][]byte{"BENCHMARKS.md": []byte(md), "benchmarks.json": js} {
		if err := os.WriteFile(filepath.Join(*out, name), data, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("wrote %s and %s", filepath.Join(*out, "BENCHMARKS.md"), filepath.Join(*out, "benchmarks.json"))
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
