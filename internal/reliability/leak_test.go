package reliability

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/testdb"
)

// ourGoroutines returns the stacks of goroutines running code of the root
// package (frames "github.com/secretsql/secretsql.…"), other than the
// caller's.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i > 0 && strings.Contains(g, "\ngithub.com/secretsql/secretsql.") {
			out = append(out, g)
		}
	}
	return out
}

// TestNoGoroutineAfterClose closes a sql.DB while a background refresh and
// a first fetch are in flight (Secrets Manager answers after 5 s): Close
// returns at once and no goroutine of secretsql remains. Not parallel: it
// looks at every goroutine of the process.
func TestNoGoroutineAfterClose(t *testing.T) {
	tdb := testdb.Postgres(t)
	srv := newSM(t)
	warm, cold := uniqueName(t), uniqueName(t)
	srv.CreateSecret(warm, tdb.SecretJSON())
	srv.CreateSecret(cold, tdb.SecretJSON())
	if g := ourGoroutines(); len(g) > 0 {
		t.Fatalf("goroutines of secretsql before the test (another test leaked them):\n%s", strings.Join(g, "\n\n"))
	}
	var ev events
	db, _ := openDB(t, srv, "postgres", warm+"?ttl=1s", secretsql.WithObserver(ev.observe))
	db.SetMaxIdleConns(0)
	if err := ping(db, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	coldDB, _ := openDB(t, srv, "postgres", cold)
	srv.SetLatency(getOp, 5*time.Second)
	time.Sleep(1100 * time.Millisecond)
	if err := ping(db, 10*time.Second); err != nil { // starts the refresh
		t.Fatal(err)
	}
	coldErr := make(chan error, 1)
	go func() { coldErr <- ping(coldDB, 10*time.Second) }() // waits on the first fetch
	waitFor(t, 5*time.Second, func() bool { return srv.Calls(getOp) >= 3 })
	if g := ourGoroutines(); len(g) < 2 {
		t.Fatalf("expected the refresh and the fetch in flight, found %d goroutines of secretsql", len(g))
	}
	start := time.Now()
	db.Close()
	coldDB.Close()
	if took := time.Since(start); took > 2500*time.Millisecond { // half the fetch's 5s
		t.Errorf("Close took %v with a fetch in flight", took)
	}
	if err := <-coldErr; err == nil {
		t.Errorf("the connect waiting on the first fetch succeeded after Close")
	}
	var left []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if left = ourGoroutines(); len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("%d goroutines of secretsql remain after Close:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// countingSM counts the rotation's own GetSecretValue calls, so that the
// test can bound secretsql's.
type countingSM struct {
	rotation.SecretsManager
	gets atomic.Int64
}

func (c *countingSM) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.gets.Add(1)
	return c.SecretsManager.GetSecretValue(ctx, in, opts...)
}

// TestRotationStorm: 256 goroutines query through a pool whose connections
// last 100 ms (so logins keep happening) while the secret is rotated three
// times back to back, each holding the setSecret→finishSecret window open
// for 300 ms. No query fails, and secretsql's GetSecretValue calls stay
// within its rate limits. The options are the defaults (a 1 s forced-fetch
// interval, longer than the gaps between the rotations).
func TestRotationStorm(t *testing.T) {
	tdb := testdb.Postgres(t)
	srv := newSM(t)
	name := uniqueName(t)
	srv.CreateSecret(name, tdb.SecretJSON())
	const minRefresh = time.Second // WithMinRefreshInterval's default
	db, _ := openDB(t, srv, "postgres", name)
	db.SetMaxOpenConns(16)
	db.SetConnMaxLifetime(100 * time.Millisecond)
	if err := ping(db, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	sm := &countingSM{SecretsManager: srv.Client()}
	rot := &rotation.Rotator{Client: sm, DB: tdb, Hook: func(ctx context.Context, next rotation.Step) error {
		if next == rotation.FinishSecret {
			time.Sleep(300 * time.Millisecond)
		}
		return nil
	}}

	var queries, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 256 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				var one int
				err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
				cancel()
				queries.Add(1)
				if err != nil {
					if failed.Add(1) <= 5 {
						t.Errorf("query: %v", err)
					}
				}
			}
		})
	}
	start := time.Now()
	time.Sleep(200 * time.Millisecond)
	const rotations = 3
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range rotations {
		if _, err := rot.Rotate(ctx, name); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
	}
	time.Sleep(300 * time.Millisecond) // logins with the final password
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)

	ours := int64(srv.SecretCalls(getOp, name)) - sm.gets.Load()
	// One first fetch, then per staging label at most one forced fetch per
	// minRefresh while logins are refused.
	limit := 1 + 2*(int64(elapsed/minRefresh)+1)
	t.Logf("%d queries, %d failed, %d GetSecretValue calls by secretsql (limit %d) in %v",
		queries.Load(), failed.Load(), ours, limit, elapsed.Round(time.Millisecond))
	if failed.Load() != 0 {
		t.Errorf("%d of %d queries failed during %d rotations", failed.Load(), queries.Load(), rotations)
	}
	// At least the first fetch and one AWSPENDING read; a connect that waits
	// out the interval may skip a version when the next rotation has begun
	// meanwhile.
	if ours < 2 || ours > limit {
		t.Errorf("secretsql made %d GetSecretValue calls, want 2 to %d", ours, limit)
	}
}
