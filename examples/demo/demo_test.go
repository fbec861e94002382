package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secretsql/secretsql/internal/testdb"
)

func shortOptions() options {
	return options{duration: 2500 * time.Millisecond, before: 500 * time.Millisecond, window: 700 * time.Millisecond,
		workers: 8, lifetime: 50 * time.Millisecond, interval: 250 * time.Millisecond}
}

func checkRun(t *testing.T, o options) {
	t.Helper()
	var out bytes.Buffer
	o.chart = filepath.Join(t.TempDir(), "demo.svg")
	sum, err := demo(context.Background(), o, &out)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 0 {
		t.Errorf("%d failed queries (first: %v)", sum.Failed, sum.FirstError)
	}
	if sum.Queries == 0 || !sum.Recovered || sum.NewVersion == "" || sum.NewVersion == sum.OldVersion {
		t.Errorf("summary = %+v: the rotation or the load did not happen", sum)
	}
	if sum.AuthFailures == 0 || !sum.PendingAdopted {
		t.Errorf("summary = %+v: no login hit the setSecret→finishSecret window", sum)
	}
	if sum.Fetches > 5 {
		t.Errorf("%d GetSecretValue calls by secretsql, want a handful", sum.Fetches)
	}
	for _, want := range []string{"summary", "failed queries        0", "recovery time", "queries/s", "chart "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if err := sum.Timeline.Check(sum.Queries, sum.Failed, 1); err != nil {
		t.Error(err)
	}
	svg, err := os.ReadFile(o.chart)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(svg), []byte("<?xml")) || !bytes.Contains(svg, []byte("setSecret")) || !bytes.Contains(svg, []byte("finishSecret")) {
		t.Errorf("--chart wrote no timeline SVG:\n%.300s", svg)
	}
}

func TestDemoEmbedded(t *testing.T) {
	checkRun(t, shortOptions())
}

func TestDemoMariaDB(t *testing.T) {
	testdb.Require(t, testdb.EngineMariaDB)
	o := shortOptions()
	o.mysqlDSN = "root@tcp(127.0.0.1:3306)/"
	checkRun(t, o)
}

func TestDemoPostgres(t *testing.T) {
	testdb.Require(t, testdb.EnginePostgres)
	o := shortOptions()
	o.pgURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	o.pgGroup = testdb.PostgresGroup // pg_hba.conf makes its members log in by password
	checkRun(t, o)
}

func TestFlags(t *testing.T) {
	var stderr bytes.Buffer
	for _, args := range [][]string{{"--workers", "0"}, {"--duration", "1s", "--before", "2s"}, {"x"},
		{"--mysql", "a", "--postgres", "b"}} {
		if code := run(context.Background(), args, &bytes.Buffer{}, &stderr); code != 2 {
			t.Errorf("run %q = %d, want 2", args, code)
		}
	}
}
