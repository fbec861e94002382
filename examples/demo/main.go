// Command demo shows secretsql surviving a password rotation with zero failed
// queries, on a fresh machine, with one command:
//
//	go run -C examples ./demo
//
// By default everything runs in this process: a Secrets Manager emulator
// (package smtest) and a MySQL-compatible server (go-mysql-server, in
// memory). The demo stores the database credentials in a secret, opens the
// database/sql driver "secretsmanager-mysql" on it, and runs workers that
// query in a loop while the pool keeps opening new connections (a short
// SetConnMaxLifetime). Then it rotates the password the way AWS's
// single-user rotation function does — createSecret, setSecret (ALTER USER
// … IDENTIFIED BY), testSecret, finishSecret — holding the window between
// setSecret and finishSecret open, when the database already has the new
// password but AWSCURRENT still holds the old one. secretsql finds the new
// password in AWSPENDING.
//
// It prints a progress line every half second and a summary: queries,
// failed queries, GetSecretValue calls and the recovery time (from the
// password change to the first successful new connection). The exit code is
// 1 if any query failed. --chart file.svg also draws the run as a timeline:
// the queries that succeeded and failed per 100 ms, with setSecret and
// finishSecret marked (the chart of `make bench`'s drills, package
// tools/charts).
//
// --mysql 'root:pw@tcp(host:3306)/' or --postgres 'postgres://…' run the same
// demo against a real server instead: the admin connection creates a
// temporary database and user, and drops them at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the demo's settings.
type options struct {
	duration time.Duration // whole run
	before   time.Duration // load before the rotation starts
	window   time.Duration // setSecret → finishSecret
	workers  int
	lifetime time.Duration // SetConnMaxLifetime
	interval time.Duration // progress lines
	mysqlDSN string
	pgURL    string
	pgGroup  string
	chart    string // SVG file to draw the run's timeline to
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	sum, err := demo(ctx, o, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	if sum.Failed > 0 {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "how long the workers run in all")
	fs.DurationVar(&o.before, "before", 2*time.Second, "load before the rotation starts")
	fs.DurationVar(&o.window, "window", 2*time.Second, "how long the rotation holds the setSecret→finishSecret window open")
	fs.IntVar(&o.workers, "workers", 16, "goroutines querying in a loop")
	fs.DurationVar(&o.lifetime, "conn-lifetime", 100*time.Millisecond, "sql.DB SetConnMaxLifetime: short, so that new connections keep being made")
	fs.DurationVar(&o.interval, "progress", 500*time.Millisecond, "interval of the progress lines")
	fs.StringVar(&o.mysqlDSN, "mysql", "", "admin DSN of a real MySQL/MariaDB server (go-sql-driver format, e.g. 'root:pw@tcp(127.0.0.1:3306)/') instead of the embedded server")
	fs.StringVar(&o.pgURL, "postgres", "", "admin URL of a real PostgreSQL server (e.g. 'postgres://postgres:pw@127.0.0.1:5432/postgres') instead of the embedded server")
	fs.StringVar(&o.pgGroup, "postgres-group", "", "with --postgres: make the demo user a member of this role (e.g. one that pg_hba.conf makes log in by password)")
	fs.StringVar(&o.chart, "chart", "", "write the run's timeline (queries per 100 ms that succeeded and failed, setSecret and finishSecret marked) to this SVG file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "demo: unexpected argument", fs.Arg(0))
		return o, flag.ErrHelp
	}
	if o.mysqlDSN != "" && o.pgURL != "" {
		fmt.Fprintln(stderr, "demo: --mysql and --postgres exclude each other")
		return o, flag.ErrHelp
	}
	if o.workers < 1 || o.duration <= o.before || o.window < 0 || o.lifetime <= 0 || o.interval <= 0 {
		fmt.Fprintln(stderr, "demo: need --workers ≥ 1, --duration > --before, --window ≥ 0, positive --conn-lifetime and --progress")
		return o, flag.ErrHelp
	}
	return o, nil
}
