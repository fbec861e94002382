package mysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/secretsql/secretsql"
	secretsqlmysql "github.com/secretsql/secretsql/engines/mysql"
	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

type hookFixture struct {
	db      *testdb.DB
	sm      *smtest.Server
	hook    *secretsqlmysql.Hook
	fetches atomic.Int64 // the hook's GetSecretValue calls
}

func newHookFixture(t *testing.T, opts ...secretsql.Option) *hookFixture {
	t.Helper()
	f := &hookFixture{db: testdb.MariaDB(t), sm: smtest.NewServer()}
	t.Cleanup(f.sm.Close)
	f.sm.CreateSecret("app/my", f.db.SecretJSON())
	var err error
	f.hook, err = secretsqlmysql.NewHook("app/my", append([]secretsql.Option{secretsql.WithClient(f.sm.Client()), secretsql.WithObserver(func(ev secretsql.Event) {
		if ev.Kind == secretsql.EventFetch || ev.Kind == secretsql.EventFetchFailed {
			f.fetches.Add(1)
		}
	})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.hook.Close() })
	return f
}

// config returns the application's own Config: no user or password in it.
func (f *hookFixture) config() *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.DBName = "tcp", f.db.Host+":3306", f.db.Database
	return cfg
}

// native returns a connector from the application's own Config with only
// the hook's Option.
func (f *hookFixture) native(t *testing.T) driver.Connector {
	t.Helper()
	cfg := f.config()
	if err := cfg.Apply(f.hook.Option()); err != nil {
		t.Fatal(err)
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connector returns Hook.Connector's connector for the application's own
// Config.
func (f *hookFixture) connector(t *testing.T) driver.Connector {
	t.Helper()
	c, err := f.hook.Connector(f.config())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHookConnects(t *testing.T) {
	f := newHookFixture(t)
	db := sql.OpenDB(f.connector(t))
	defer db.Close()
	db.SetMaxOpenConns(8)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			var user string
			if err := c.QueryRowContext(ctx, "SELECT USER()").Scan(&user); err != nil || !strings.HasPrefix(user, f.db.User+"@") {
				t.Errorf("USER() = %q, %v; want %s@…", user, err, f.db.User)
			}
			time.Sleep(20 * time.Millisecond)
		})
	}
	wg.Wait()
	if n := f.fetches.Load(); n != 1 {
		t.Errorf("GetSecretValue calls = %d, want 1", n)
	}
	if st := f.hook.Stats(); st != (secretsqlmysql.HookStats{}) {
		t.Errorf("stats = %+v", st)
	}
	// An error that is not an authentication failure is returned as is.
	if f.hook.ReportError(ctx, errors.New("boom")) {
		t.Error("ReportError took a plain error for an authentication failure")
	}
}

type loadResult struct {
	queries   int64
	failures  []error
	versionID string
}

// rotateUnderLoad runs a single-user rotation with a 1s setSecret→
// finishSecret window while 8 workers query db, whose connections live 30ms.
func rotateUnderLoad(t *testing.T, f *hookFixture, db *sql.DB, onErr func(context.Context, error)) loadResult {
	t.Helper()
	const workers = 8
	db.SetMaxOpenConns(workers)
	db.SetConnMaxLifetime(30 * time.Millisecond)
	var res loadResult
	query := testdb.SelectOne(db)
	load := testdb.StartLoad(workers, func(ctx context.Context) error {
		err := query(ctx)
		if err != nil && onErr != nil && ctx.Err() == nil {
			onErr(ctx, err)
		}
		return err
	})
	time.Sleep(300 * time.Millisecond)
	rot := rotation.Rotator{Client: f.sm.Client(), DB: f.db, Hook: func(ctx context.Context, next rotation.Step) error {
		if next == rotation.FinishSecret {
			time.Sleep(time.Second)
		}
		return nil
	}}
	r, err := rot.Rotate(context.Background(), "app/my")
	if err == nil {
		res.versionID = r.VersionID
		time.Sleep(700 * time.Millisecond)
	}
	for _, f := range load.Stop() {
		res.failures = append(res.failures, f.Err)
	}
	if err != nil {
		t.Fatal(err)
	}
	res.queries = load.Queries()
	return res
}

func checkAfter(t *testing.T, f *hookFixture, res loadResult) {
	t.Helper()
	r, err := f.hook.Resolve(context.Background())
	if err != nil || r.VersionID != res.versionID {
		t.Errorf("hook resolves version %s (%v), want the rotated %s", r.VersionID, err, res.versionID)
	}
	if err := f.db.Login(context.Background(), f.db.User, f.db.Password); err == nil {
		t.Error("the old password still logs in: the rotation did not change it")
	}
	// The first read, then after the rejection one read of AWSPENDING; more
	// (AWSCURRENT, and once more each) if a rejection came more than the min
	// refresh interval (1s) after the first.
	if n := f.fetches.Load(); n < 2 || n > 5 {
		t.Errorf("the hook made %d GetSecretValue calls, want 2 to 5", n)
	}
}

// With Hook.Connector, rejected logins are retried on the handle's retry
// loop (here WithRetry(3, 20ms)): no query fails.
func TestHookConnectorRotationUnderLoad(t *testing.T) {
	f := newHookFixture(t, secretsql.WithRetry(3, 20*time.Millisecond))
	db := sql.OpenDB(f.connector(t))
	defer db.Close()
	res := rotateUnderLoad(t, f, db, nil)
	st := f.hook.Stats()
	t.Logf("Hook.Connector, 8 workers, 30ms connection lifetime: %d queries, %d failed, %d rejected logins retried (%d retries), %d GetSecretValue calls by the hook",
		res.queries, len(res.failures), st.AuthFailures, st.Retries, f.fetches.Load())
	for _, err := range res.failures {
		t.Errorf("query failed: %v", err)
	}
	if st.AuthFailures == 0 || st.Retries == 0 {
		t.Errorf("stats %+v: the rotation window was not exercised", st)
	}
	checkAfter(t, f, res)
}

// With Hook.Option alone and errors passed to ReportError, the queries whose
// connect used the old password fail; measure how many.
func TestHookOptionOnlyRotationUnderLoad(t *testing.T) {
	f := newHookFixture(t)
	db := sql.OpenDB(f.native(t))
	defer db.Close()
	var reported atomic.Int64
	res := rotateUnderLoad(t, f, db, func(ctx context.Context, err error) {
		if f.hook.ReportError(ctx, err) {
			reported.Add(1)
		}
	})
	t.Logf("Hook.Option + ReportError, 8 workers, 30ms connection lifetime: %d queries, %d failed (%d reported as rejected logins), %d GetSecretValue calls by the hook",
		res.queries, len(res.failures), reported.Load(), f.fetches.Load())
	for _, err := range res.failures {
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1045 {
			t.Errorf("failure that is not a rejected password: %v", err)
		}
	}
	if len(res.failures) == 0 || int64(len(res.failures)) != reported.Load() {
		t.Errorf("%d failures, %d reported", len(res.failures), reported.Load())
	}
	if len(res.failures) > 16 {
		t.Errorf("%d failed queries: the hook did not switch to the new password promptly", len(res.failures))
	}
	checkAfter(t, f, res)
}

// TestHookConnectorHonoursRetry: Hook.Connector makes the logins WithRetry
// allows, no more, and fails with an *AuthError wrapping the driver's error.
func TestHookConnectorHonoursRetry(t *testing.T) {
	f := newHookFixture(t, secretsql.WithRetry(3, time.Millisecond), secretsql.WithMinRefreshInterval(time.Hour))
	db := sql.OpenDB(f.connector(t))
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.db.SetPassword(ctx, f.db.User, testdb.RandomPassword()); err != nil {
		t.Fatal(err)
	}
	db.SetMaxIdleConns(0)
	before := f.hook.Stats()
	err := db.PingContext(ctx)
	var ae *secretsql.AuthError
	var me *mysql.MySQLError
	if !errors.As(err, &ae) || ae.Attempts != 3 || !errors.As(err, &me) || me.Number != 1045 {
		t.Fatalf("err = %v, want an AuthError after 3 attempts wrapping MySQL's 1045", err)
	}
	if st := f.hook.Stats(); st.AuthFailures-before.AuthFailures != 3 || st.Retries-before.Retries != 2 {
		t.Fatalf("stats %+v (before %+v): want 3 rejected logins, 2 of them retries", st, before)
	}
}

// TestHookConnectorUsesItsCredentials: Hook.Connector logs in with the
// hook's credentials even when the Config has a BeforeConnect of its own,
// and leaves the caller's Config as it was: a connector built from it
// still logs in with its own BeforeConnect's (refused) credentials.
func TestHookConnectorUsesItsCredentials(t *testing.T) {
	f := newHookFixture(t)
	cfg := f.config()
	if err := cfg.Apply(mysql.BeforeConnect(func(_ context.Context, c *mysql.Config) error {
		c.User, c.Passwd = f.db.User, "not the password"
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	hooked, err := f.hook.Connector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(hooked)
	defer db.Close()
	ctx := context.Background()
	var user string
	if err := db.QueryRowContext(ctx, "SELECT USER()").Scan(&user); err != nil || !strings.HasPrefix(user, f.db.User+"@") {
		t.Fatalf("USER() = %q, %v; want %s@…", user, err, f.db.User)
	}
	if cfg.User != "" || cfg.Passwd != "" {
		t.Errorf("Hook.Connector set the caller's Config's user %q or password", cfg.User)
	}
	own, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := own.Connect(ctx)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1045 {
		if conn != nil {
			conn.Close()
		}
		t.Fatalf("the caller's Config connects with %v, want its own BeforeConnect's password refused (1045)", err)
	}
	if st := f.hook.Stats(); st != (secretsqlmysql.HookStats{}) {
		t.Errorf("stats = %+v: the caller's own connect reached the hook", st)
	}
}

// TestHookConnectorConfigErrors: Hook.Connector returns mysql.NewConnector's
// error for a Config it refuses, before any secret is read.
func TestHookConnectorConfigErrors(t *testing.T) {
	f := newHookFixture(t)
	cfg := f.config()
	cfg.TLSConfig = "no-such-registered-tls-config"
	if _, err := f.hook.Connector(cfg); err == nil {
		t.Fatal("Hook.Connector accepted an unknown TLS config name")
	}
	if n := f.fetches.Load(); n != 0 {
		t.Errorf("GetSecretValue calls = %d, want 0", n)
	}
}
