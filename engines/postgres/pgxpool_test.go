package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

// TestHookRotationUnderLoad runs a real single-user rotation (with a 1 s
// setSecret→finishSecret window) while 8 workers keep querying through a
// pool whose connections live 30 ms, over plaintext, over TLS with
// channel_binding=require (SCRAM-SHA-256-PLUS, or pgx fails the login), and
// with sslmode=prefer: no Acquire fails, every connection is the TLS kind
// the pool asked for, and the hook's GetSecretValue calls stay few.
func TestHookRotationUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name, params string
		wantTLS      bool
	}{
		{"plaintext", "sslmode=disable", false},
		{"tls_channel_binding_require", "sslmode=require channel_binding=require", true},
		{"sslmode_prefer", "sslmode=prefer", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rotateUnderPool(t, tc.params)
			t.Logf("pgxpool + Hook (%s), 8 workers, 30ms connection lifetime, 1 s window: %d queries, %d failed acquires, "+
				"%d logins (%d plaintext), %d rejected, %d retried inside the connect, %d GetSecretValue calls by the hook",
				tc.params, r.queries, len(r.failures), r.stats.Logins, r.plaintext, r.stats.AuthFailures, r.stats.Retries, r.fetches)
			for _, f := range r.failures {
				t.Errorf("failed acquire: %v", f.Err)
			}
			if tc.wantTLS && r.plaintext != 0 {
				t.Errorf("%d connections without TLS with %s", r.plaintext, tc.params)
			}
			if r.stats.Logins < 20 {
				t.Errorf("only %d logins: the pool did not keep making connections", r.stats.Logins)
			}
			if r.stats.AuthFailures == 0 || r.stats.Retries != r.stats.AuthFailures {
				t.Errorf("stats %+v: every rejected login must be retried", r.stats)
			}
			// The first read, then after the rejection one read of
			// AWSPENDING; more (AWSCURRENT, and once more each) if a
			// rejection came more than the min refresh interval (1 s)
			// after the first.
			if r.fetches < 2 || r.fetches > 5 {
				t.Errorf("the hook made %d GetSecretValue calls, want 2 to 5", r.fetches)
			}
		})
	}
}

type poolRun struct {
	queries, fetches, plaintext int64
	failures                    []testdb.Failure
	stats                       HookStats
}

// rotateUnderPool runs the rotation of TestHookRotationUnderLoad with the
// pool's connection parameters params.
func rotateUnderPool(t *testing.T, params string) poolRun {
	t.Helper()
	db := testdb.Postgres(t)
	sm := smtest.NewServer()
	defer sm.Close()
	sm.CreateSecret("app/pg", db.SecretJSON())
	var fetches, plaintext atomic.Int64
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
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s %s", db.Host, db.Port, db.Database, params))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = workers
	cfg.MaxConnLifetime = 30 * time.Millisecond
	cfg.MaxConnLifetimeJitter = 0
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
			plaintext.Add(1)
		}
		return nil
	}
	hook.Configure(cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	load := testdb.StartLoad(workers, func(ctx context.Context) error {
		var one int
		return pool.QueryRow(ctx, "select 1").Scan(&one)
	})
	time.Sleep(300 * time.Millisecond)
	rot := rotation.Rotator{Client: sm.Client(), DB: db, Hook: func(ctx context.Context, next rotation.Step) error {
		if next == rotation.FinishSecret {
			time.Sleep(time.Second) // hold the window open
		}
		return nil
	}}
	res, err := rot.Rotate(context.Background(), "app/pg")
	if err != nil {
		load.Stop()
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	run := poolRun{failures: load.Stop(), queries: load.Queries(), fetches: fetches.Load(), plaintext: plaintext.Load(), stats: hook.Stats()}
	// The pool now logs in with the new version, and the old password no
	// longer works: the rotation really changed it.
	if r, err := hook.Resolve(context.Background()); err != nil || r.VersionID != res.VersionID {
		t.Errorf("hook resolves version %s (%v), want the rotated %s", r.VersionID, err, res.VersionID)
	}
	if err := db.Login(context.Background(), db.User, db.Password); err == nil {
		t.Error("the old password still logs in: the rotation did not change it")
	}
	return run
}

// TestStartupSniffer feeds start-ups byte by byte and in chunks: an
// accepted login is reported, a rejected one is retried when AWSPENDING
// holds newer credentials (the reader stops at the ErrorResponse), and
// passed through to pgx when nothing newer exists.
func TestStartupSniffer(t *testing.T) {
	msg := func(typ byte, body ...byte) []byte {
		n := len(body) + 4
		return append([]byte{typ, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body...)
	}
	saslReq := msg('R', append([]byte{0, 0, 0, 10}, "SCRAM-SHA-256\x00\x00"...)...)
	errResp := msg('E', []byte("SFATAL\x00VFATAL\x00C28P01\x00Mpassword authentication failed for user \"x\"\x00\x00")...)
	authOK := msg('R', 0, 0, 0, 0)
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	for _, tc := range []struct {
		name      string
		pending   string // AWSPENDING's password, "" for none
		stream    []byte
		wantRetry bool
		logins    int64
	}{
		{"rejected, newer known", "pw2", cat(saslReq, errResp), true, 0},
		{"rejected, nothing newer", "", cat(saslReq, errResp), false, 0},
		{"accepted", "", cat(saslReq, authOK, msg('S', []byte("a\x00b\x00")...)), false, 1},
		{"empty message first", "pw2", cat(msg('v'), errResp), true, 0},
	} {
		for _, chunk := range []int{1, 3, 7, 1000} {
			hook := hookOn(t, tc.pending)
			r, err := hook.h.Credentials(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			c := &connect{h: hook, ctx: context.Background(), version: r.VersionID, logins: 1}
			s := &startupSniffer{}
			var retry error
			errAt, last := -1, 0
			for off := 0; off < len(tc.stream) && retry == nil; off += chunk {
				b := tc.stream[off:min(off+chunk, len(tc.stream))]
				var start int
				start, retry = s.feed(b, c)
				last = off
				if retry != nil {
					errAt = off + start
				}
			}
			if (retry != nil) != tc.wantRetry || hook.Stats().Logins != tc.logins {
				t.Errorf("%s, chunks of %d: retry %v, stats %+v", tc.name, chunk, retry, hook.Stats())
			}
			// The offset is the ErrorResponse's when it began in the last
			// chunk, else 0 (the chunk's start).
			if began := len(tc.stream) - len(errResp); tc.wantRetry && errAt != max(began, last) {
				t.Errorf("%s, chunks of %d: the ErrorResponse began at %d, reported at %d", tc.name, chunk, began, errAt)
			}
		}
	}
}
