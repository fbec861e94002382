package reliability

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/credential"
	"github.com/secretsql/secretsql/internal/testdb"
)

// expiringSource hands out the test database's fixed password as a new
// version with a fresh expiry at every read, and counts its Close calls.
type expiringSource struct {
	user, password string
	life           time.Duration
	retire         bool // connections must not outlive the credential
	releaseIdle    bool
	reads, closes  atomic.Int64
}

func (s *expiringSource) Fetch(context.Context, credential.Request) (credential.Credential, error) {
	n := s.reads.Add(1)
	c := credential.Credential{Username: s.user, Version: "v" + strconv.FormatInt(n, 10), Expiry: time.Now().Add(s.life), Retire: s.retire}
	return c.WithPassword(s.password), nil
}

func (s *expiringSource) Describe() credential.Description {
	return credential.Description{Name: "expiring", MinInterval: 0, ReleaseIdle: s.releaseIdle}
}

func (s *expiringSource) Close() error { s.closes.Add(1); return nil }

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRetireExpiredConnections: a pooled connection made with a credential
// that expires and must not outlive it (Retire, as a Vault lease) is
// discarded at its first reuse after the credential's usable life on
// PostgreSQL (pgx's ResetSession hook), whatever the pool's own settings,
// and not before; the mysql engine cannot retire its connections, and says
// so once per Connector in a warning. A credential that only a login
// checks (an IAM token: Retire unset) leaves connections alone, silently.
func TestRetireExpiredConnections(t *testing.T) {
	const life = 3 * time.Second // usable for 2.25 s (the margin is a quarter of a life under 4 s)
	for _, engine := range testdb.Engines() {
		for _, retire := range []bool{true, false} {
			t.Run(engine+"/retire="+strconv.FormatBool(retire), func(t *testing.T) {
				t.Parallel()
				first, later, warnings := sessionsAcrossExpiry(t, engine, life, retire)
				replaced := later != first
				wantReplaced, wantWarnings := retire && engine == testdb.EnginePostgres, 0
				if retire && engine != testdb.EnginePostgres {
					wantWarnings = 1
				}
				if replaced != wantReplaced {
					t.Errorf("session %s → %s across the credential's expiry: replaced %v, want %v", first, later, replaced, wantReplaced)
				}
				if warnings != wantWarnings {
					t.Errorf("%d warnings, want %d", warnings, wantWarnings)
				}
				t.Logf("%s, Retire %v: session %s → %s across the credential's expiry; %d warning(s)", engine, retire, first, later, warnings)
			})
		}
	}
}

// sessionsAcrossExpiry opens a pool of one connection with credentials
// that expire after life, and returns the server's session id at once and
// just after the expiry, and the number of warnings logged.
func sessionsAcrossExpiry(t *testing.T, engine string, life time.Duration, retire bool) (first, later string, warnings int) {
	tdb := testdb.Open(t, engine)
	src := &expiringSource{user: tdb.User, password: tdb.Password, life: life, retire: retire}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dsn := "?host=" + tdb.Host + "&port=" + strconv.Itoa(tdb.Port) + "&dbname=" + tdb.Database
	c, err := secretsql.NewConnector(engine, dsn, secretsql.WithSource(src), secretsql.WithLogger(logger),
		secretsql.WithCache(secretsql.NewCache()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection, never closed by the pool itself
	session := func() string {
		t.Helper()
		q := "SELECT CONNECTION_ID()"
		if engine == testdb.EnginePostgres {
			q = "SELECT pg_backend_pid()"
		}
		var id string
		if err := db.QueryRow(q).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	start := time.Now()
	first = session()
	if again := session(); again != first {
		t.Fatalf("the connection was replaced %s after it opened, within its credential's usable life", time.Since(start))
	}
	time.Sleep(life + 200*time.Millisecond - time.Since(start)) // past the expiry
	later = session()
	return first, later, strings.Count(logs.String(), "does not retire connections")
}

// TestReleaseIdle: a source that asks for it is closed by db.Close, before
// it returns; any other source is kept for its grace period, and closed
// with its cache.
func TestReleaseIdle(t *testing.T) {
	tdb := testdb.Postgres(t)
	dsn := "?host=" + tdb.Host + "&port=" + strconv.Itoa(tdb.Port) + "&dbname=" + tdb.Database
	for _, releaseIdle := range []bool{true, false} {
		src := &expiringSource{user: tdb.User, password: tdb.Password, life: time.Hour, releaseIdle: releaseIdle}
		cache := secretsql.NewCache()
		var dbs []*sql.DB
		for range 2 { // two readers share the source: the first Close keeps it
			c, err := secretsql.NewConnector("postgres", dsn, secretsql.WithSource(src), secretsql.WithCache(cache))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			dbs = append(dbs, db)
		}
		var closes []int64
		for _, db := range dbs {
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			closes = append(closes, src.closes.Load())
		}
		want := []int64{0, 0}
		if releaseIdle {
			want = []int64{0, 1}
		}
		if closes[0] != want[0] || closes[1] != want[1] {
			t.Errorf("ReleaseIdle %v: closed %v times after each db.Close, want %v", releaseIdle, closes, want)
		}
		if err := cache.Close(); err != nil {
			t.Fatal(err)
		}
		if n := src.closes.Load(); n != 1 {
			t.Errorf("ReleaseIdle %v: closed %d times after the cache closed, want 1", releaseIdle, n)
		}
		if n := src.reads.Load(); n != 1 {
			t.Errorf("ReleaseIdle %v: %d reads for two readers of one source, want 1", releaseIdle, n)
		}
	}
}

var _ io.Closer = (*expiringSource)(nil)

// TestRetireUnderLoad: connections retired for their credential's expiry
// fail no query on a saturated pool (50 workers, 20 connections that the
// pool itself never closes), although database/sql tries a query on at
// most three connections that answer driver.ErrBadConn: the PostgreSQL
// engine spreads the retirement of a credential's connections over the end
// of its usable life instead of retiring them all at one moment.
func TestRetireUnderLoad(t *testing.T) {
	tdb := testdb.Postgres(t)
	src := &expiringSource{user: tdb.User, password: tdb.Password, life: 2 * time.Second, retire: true}
	dsn := "?host=" + tdb.Host + "&port=" + strconv.Itoa(tdb.Port) + "&dbname=" + tdb.Database
	c, err := secretsql.NewConnector("postgres", dsn, secretsql.WithSource(src), secretsql.WithCache(secretsql.NewCache()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	const run = 12 * time.Second
	var pids sync.Map // the server processes (connections) that served a query
	load := testdb.StartLoad(50, func(ctx context.Context) error {
		var pid int
		if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			return err
		}
		pids.Store(pid, true)
		return nil
	})
	time.Sleep(run)
	failures := load.Stop()
	conns := 0
	pids.Range(func(any, any) bool { conns++; return true })
	t.Logf("%v, 50 workers, 20 connections, credentials of 2 s: %d queries, %d failed; %d reads; %d connections served",
		run, load.Queries(), len(failures), src.reads.Load(), conns)
	if conns <= 2*20 {
		t.Errorf("%d connections served in %v with credentials of 2 s: the pool's connections were not retired", conns, run)
	}
	for i, f := range failures {
		if i == 5 {
			break
		}
		t.Errorf("query started at %s failed: %v", f.Start.Format("15:04:05.000"), f.Err)
	}
}
