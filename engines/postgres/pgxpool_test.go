package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// newPool returns a pool on db whose credentials come from the hook only:
// the pool's own configuration names no user and no password.
func newPool(t *testing.T, db *testdb.DB, hook *Hook, tune func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s sslmode=disable", db.Host, db.Port, db.Database))
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(cfg)
	}
	hook.Configure(cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestHookPool(t *testing.T) {
	db := testdb.Postgres(t)
	sm := smtest.NewServer()
	defer sm.Close()
	sm.CreateSecret("app/pg", db.SecretJSON())
	hook, err := NewHook("app/pg", secretsql.WithClient(sm.Client()))
	if err != nil {
		t.Fatal(err)
	}
	defer hook.Close()
	var before atomic.Int32
	pool := newPool(t, db, hook, func(c *pgxpool.Config) {
		c.MaxConns = 10
		c.BeforeConnect = func(context.Context, *pgx.ConnConfig) error { before.Add(1); return nil }
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			c, err := pool.Acquire(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Release()
			var user string
			if err := c.QueryRow(ctx, "select current_user").Scan(&user); err != nil || user != db.User {
				t.Errorf("current_user = %q, %v; want %q", user, err, db.User)
			}
			time.Sleep(20 * time.Millisecond) // keep it, so that 10 connections are made
		})
	}
	wg.Wait()
	if n := sm.Calls("GetSecretValue"); n != 1 {
		t.Errorf("GetSecretValue calls = %d, want 1 for %d connections", n, pool.Stat().TotalConns())
	}
	if st := hook.Stats(); st.Logins != int64(pool.Stat().TotalConns()) || st.AuthFailures != 0 || before.Load() != int32(st.Logins) {
		t.Errorf("stats = %+v, pool conns %d, earlier BeforeConnect ran %d times", st, pool.Stat().TotalConns(), before.Load())
	}
	r, err := hook.Resolve(ctx)
	if err != nil || r.Credentials.Username != db.User {
		t.Errorf("Resolve = %v, %v", r, err)
	}
	hook.Close()
	pool.Reset() // drop the connections: the next acquire must connect
	if _, err := pool.Acquire(ctx); !errors.Is(err, secretsql.ErrClosed) {
		t.Errorf("acquire after Close: %v, want ErrClosed", err)
	}
}

// TestHookRotationUnderLoad runs a real single-user rotation (with a held
// setSecret→finishSecret window) while workers keep acquiring connections
// from a pool whose connections live 30ms, and measures the failed acquires.
func TestHookRotationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("rotation under load")
	}
	db := testdb.Postgres(t)
	sm := smtest.NewServer()
	defer sm.Close()
	sm.CreateSecret("app/pg", db.SecretJSON())
	var fetches atomic.Int64 // the hook's GetSecretValue calls (the rotation makes its own)
	hook, err := NewHook("app/pg", secretsql.WithClient(sm.Client()), secretsql.WithObserver(func(ev secretsql.Event) {
		if ev.Kind == secretsql.EventFetch || ev.Kind == secretsql.EventFetchFailed {
			fetches.Add(1)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer hook.Close()
	const workers = 8
	pool := newPool(t, db, hook, func(c *pgxpool.Config) {
		c.MaxConns = workers
		c.MaxConnLifetime = 30 * time.Millisecond
		c.MaxConnLifetimeJitter = 0
	})

	type failure struct {
		at  time.Time
		err error
	}
	var (
		mu       sync.Mutex
		failures []failure
		queries  atomic.Int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
				var one int
				err := pool.QueryRow(qctx, "select 1").Scan(&one)
				qcancel()
				switch {
				case err == nil:
					queries.Add(1)
				case ctx.Err() == nil:
					mu.Lock()
					failures = append(failures, failure{time.Now(), err})
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	var windowOpen, finished time.Time
	rot := rotation.Rotator{Client: sm.Client(), DB: db, Hook: func(ctx context.Context, next rotation.Step) error {
		if next == rotation.TestSecret {
			windowOpen = time.Now() // setSecret done: the database has the new password
		}
		if next == rotation.FinishSecret {
			time.Sleep(time.Second) // hold the window open
		}
		return nil
	}}
	res, err := rot.Rotate(ctx, "app/pg")
	if err != nil {
		cancel()
		wg.Wait()
		t.Fatal(err)
	}
	finished = time.Now()
	time.Sleep(700 * time.Millisecond)
	cancel()
	wg.Wait()

	st := hook.Stats()
	t.Logf("pgxpool + Hook, %d workers, 30ms connection lifetime: %d queries, %d failed acquires, %d logins, %d auth failures seen by the hook, %d GetSecretValue calls by the hook",
		workers, queries.Load(), len(failures), st.Logins, st.AuthFailures, fetches.Load())
	for _, f := range failures {
		var pe *pgconn.PgError
		if !errors.As(f.err, &pe) || pe.Code != "28P01" {
			t.Errorf("failure that is not a rejected password: %v", f.err)
		}
		if f.at.Before(windowOpen) || f.at.After(finished.Add(100*time.Millisecond)) {
			t.Errorf("failure at %v, outside the rotation (window opened %v, finished %v)", f.at, windowOpen, finished)
		}
	}
	if len(failures) > workers {
		t.Errorf("%d failed acquires: more than one per connect in flight (%d)", len(failures), workers)
	}
	if st.AuthFailures != int64(len(failures)) {
		t.Errorf("the hook saw %d auth failures, the workers %d", st.AuthFailures, len(failures))
	}
	if st.Logins < 20 {
		t.Errorf("only %d logins: the pool did not keep making connections", st.Logins)
	}
	// The first read, then after the rejection one read of AWSPENDING; more
	// (AWSCURRENT, and once more each) if a rejection came more than the min
	// refresh interval (1s) after the first.
	if n := fetches.Load(); n < 2 || n > 5 {
		t.Errorf("the hook made %d GetSecretValue calls, want 2 to 5", n)
	}
	// The pool now logs in with the new version.
	r, err := hook.Resolve(context.Background())
	if err != nil || r.VersionID != res.VersionID {
		t.Errorf("hook resolves version %s (%v), want the rotated %s", r.VersionID, err, res.VersionID)
	}
	if err := db.Login(context.Background(), db.User, db.Password); err == nil {
		t.Error("the old password still logs in: the rotation did not change it")
	}
}

// TestStartupSniffer feeds a recorded-like start-up byte by byte.
func TestStartupSniffer(t *testing.T) {
	msg := func(typ byte, body ...byte) []byte {
		n := len(body) + 4
		return append([]byte{typ, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body...)
	}
	saslReq := msg('R', append([]byte{0, 0, 0, 10}, "SCRAM-SHA-256\x00\x00"...)...)
	errResp := msg('E', []byte("SFATAL\x00VFATAL\x00C28P01\x00Mpassword authentication failed for user \"x\"\x00\x00")...)
	authOK := msg('R', 0, 0, 0, 0)
	for _, tc := range []struct {
		name       string
		stream     []byte
		wantOK     bool
		wantSQLErr string
	}{
		{"rejected", append(append([]byte{}, saslReq...), errResp...), false, "28P01"},
		{"accepted", append(append(append([]byte{}, saslReq...), authOK...), msg('S', []byte("a\x00b\x00")...)...), true, ""},
		{"empty message", append(msg('v'), errResp...), false, "28P01"},
	} {
		for _, chunk := range []int{1, 3, 7, 1000} {
			var ok bool
			var code string
			s := &startupSniffer{onAuthOK: func() { ok = true }, onError: func(c string) { code = c }}
			b := tc.stream
			done := false
			for len(b) > 0 {
				k := min(chunk, len(b))
				done = s.feed(b[:k])
				b = b[k:]
			}
			if ok != tc.wantOK || code != tc.wantSQLErr || !done {
				t.Errorf("%s, chunks of %d: ok=%v code=%q done=%v", tc.name, chunk, ok, code, done)
			}
		}
	}
}
