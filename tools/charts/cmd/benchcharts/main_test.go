package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const reportJSON = `{"engines": [{"engine": "postgres", "drills": [
  {"approach": "secretsql", "strategy": "single user", "window_seconds": 2, "rotations": 1,
   "timeline": {"bucket_ms": 100, "ok": [5, 6, 7], "failed": [0, 0, 0], "set_secret_ms": [100], "finish_secret_ms": [200]}},
  {"approach": "Go-wrapper-like baseline", "strategy": "single user", "window_seconds": 2, "rotations": 1,
   "timeline": {"bucket_ms": 100, "ok": [5, 0, 7], "failed": [0, 3, 0], "set_secret_ms": [100], "finish_secret_ms": [200]}},
  {"approach": "secretsql", "strategy": "alternating users", "window_seconds": 2, "rotations": 2,
   "timeline": {"bucket_ms": 100, "ok": [5, 6, 7], "failed": [0, 0, 0], "set_secret_ms": [100, 150], "finish_secret_ms": [120, 200]}},
  {"approach": "secretsql", "strategy": "single user", "window_seconds": 0, "rotations": 1}
]}]}`

func TestRun(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "benchmarks.json")
	if err := os.WriteFile(in, []byte(reportJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	paths, err := run(in, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "charts", "postgres-single-user-2s.svg"), filepath.Join(dir, "charts", "postgres-alternating-users-2s.svg")}
	if !slices.Equal(paths, want) {
		t.Fatalf("wrote %v, want %v", paths, want)
	}
	svg, err := os.ReadFile(want[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"PostgreSQL, single user, one rotation, setSecret→finishSecret window 2 s", "secretsql", "Go-wrapper-like baseline"} {
		if !strings.Contains(string(svg), s) {
			t.Errorf("%s lacks %q", want[0], s)
		}
	}
}

func TestRunNoChart(t *testing.T) {
	in := filepath.Join(t.TempDir(), "benchmarks.json")
	if err := os.WriteFile(in, []byte(`{"engines": [{"engine": "mariadb", "drills": []}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(in, t.TempDir()); err == nil {
		t.Error("no error for a report without charts")
	}
}
