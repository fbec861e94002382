package secretsqlotel_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"go.opentelemetry.io/otel/attribute"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/bench"
	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// TestRotationDrill runs the rotation drill of internal/bench (50 workers,
// a pool of 20 connections living 50 ms, one single-user rotation holding
// setSecret→finishSecret open for 1 s) on the test bed's PostgreSQL and
// MariaDB with the observer, logs every metric and span it recorded, and
// checks that the rotation shows (a rejected login, a read of AWSPENDING,
// an adoption) and that neither password nor secret value of any version
// appears in them.
func TestRotationDrill(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			sm := smtest.NewServer()
			t.Cleanup(sm.Close)
			target, err := bench.NewTarget(testdb.Open(t, engine), sm)
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t)
			var (
				mu     sync.Mutex
				secret string
			)
			observe := func(ev secretsql.Event) {
				mu.Lock()
				secret = ev.SecretID
				mu.Unlock()
				h.observe(ev)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			row, err := target.Drill(ctx, bench.DrillSpec{
				Approach: bench.SecretSQL, Strategy: rotation.SingleUser, Window: time.Second, Rotations: 1,
				Workers: 50, Pool: 20, Lifetime: 50 * time.Millisecond, Before: 500 * time.Millisecond, After: time.Second,
				Options: []secretsql.Option{secretsql.WithObserver(observe)},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d queries, %d failed, %d GetSecretValue calls", row.Queries, row.Failed, row.Calls)

			points, units := h.collect(t)
			names := slices.Sorted(func(yield func(string) bool) {
				for n := range points {
					if !yield(n) {
						return
					}
				}
			})
			for _, name := range names {
				for _, p := range points[name] {
					t.Logf("metric %s %d %s  %s", name, p.value, units[name], p.attrs.Encoded(attribute.DefaultEncoder()))
				}
			}
			for _, s := range h.spans.Ended() {
				t.Logf("span %s %s  %v", s.Name(), s.EndTime().Sub(s.StartTime()).Round(time.Microsecond), spanAttrs(s))
			}

			has := func(name string, want map[string]string) bool {
				for _, p := range points[name] {
					got, ok := attrMap(p.attrs), true
					for k, v := range want {
						ok = ok && got[k] == v
					}
					if ok && p.value > 0 {
						return true
					}
				}
				return false
			}
			system, code := "postgresql", "28P01"
			if engine == testdb.EngineMariaDB {
				system, code = "mariadb", "1045"
			}
			for name, want := range map[string]map[string]string{
				"secretsql.secret.reads":         {"db.system.name": system, "secretsql.secret.stage": "AWSPENDING", "secretsql.read.outcome": "success"},
				"secretsql.secret.read.duration": {"db.system.name": system, "secretsql.secret.stage": "AWSCURRENT"},
				"secretsql.login.rejections":     {"db.system.name": system, "error.type": code, "db.response.status_code": code},
				"secretsql.pending.adoptions":    {"db.system.name": system},
			} {
				if !has(name, want) {
					t.Errorf("no %s with %v", name, want)
				}
			}

			// Every version's value, read from the emulator.
			mu.Lock()
			id := secret
			mu.Unlock()
			var secrets []string
			for _, stage := range []string{"AWSCURRENT", "AWSPREVIOUS"} {
				out, err := sm.Client().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String(stage)})
				if err != nil {
					t.Fatal(err)
				}
				value := aws.ToString(out.SecretString)
				secrets = append(secrets, value, jsonString(t, value, "password"))
			}
			checkNoSecret(t, h.recorded(t), secrets...)
		})
	}
}

// jsonString returns the string value of key in the JSON object s.
func jsonString(t *testing.T, s, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	v, _ := m[key].(string)
	if v == "" {
		t.Fatalf("the secret has no string %q", key)
	}
	return v
}
