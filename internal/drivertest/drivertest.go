// Package drivertest runs the driver scenarios every engine must pass
// against a real database (internal/testdb) and the Secrets Manager emulator
// (smtest): opening by ARN, partial ARN and name; a cold connect storm; single-
// user and alternating-users rotations under load; a Secrets Manager outage;
// a database that is down; a wrong password; typed errors; hostile passwords;
// a cancelled caller; and, over all of them, that no password appears in an
// error, a log record or an observer event.
//
// Engine packages call [Run] from a test. The numbers each scenario measured
// are logged (go test -v shows them).
package drivertest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/engine"
	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// Config describes the engine under test.
type Config struct {
	// Engine is the secretsql engine name ("postgres", "mysql").
	Engine string
	// DB is the test-bed server (testdb.EnginePostgres, testdb.EngineMariaDB).
	DB string
	// RawConn checks the value sql.Conn.Raw hands out: the native conn.
	RawConn func(driverConn any) error
	// IsAuthError reports the driver's own authentication error type.
	IsAuthError func(error) bool
	// ColdStorm is the number of concurrent first connects, each held
	// until all are connected (below the server's max_connections).
	ColdStorm int
}

const getOp = "GetSecretValue"

// Run runs every scenario as a subtest.
func Run(t *testing.T, cfg Config) {
	testdb.Require(t, cfg.DB)
	r := &runner{cfg: cfg}
	r.log = slog.New(slog.NewJSONHandler(&r.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Run("OpenByARNPartialARNAndName", r.openForms)
	t.Run("ColdStorm", r.coldStorm)
	t.Run("SingleUserRotationUnderLoad", func(t *testing.T) { r.rotationUnderLoad(t, rotation.SingleUser) })
	t.Run("AlternatingUsersRotationUnderLoad", func(t *testing.T) { r.rotationUnderLoad(t, rotation.AlternatingUsers) })
	t.Run("SecretsManagerOutageWarmCache", r.outage)
	t.Run("DatabaseDown", r.databaseDown)
	t.Run("WrongPassword", r.wrongPassword)
	t.Run("TypedErrors", r.typedErrors)
	t.Run("HostilePasswords", r.hostilePasswords)
	t.Run("CancelledCaller", r.cancelledCaller)
	t.Run("NoPasswordInOutput", r.noPasswordInOutput)
}

type runner struct {
	cfg Config

	mu        sync.Mutex
	passwords []string // every password the scenarios used
	outputs   []string // every error text and observer event they produced
	logBuf    syncBuffer
	log       *slog.Logger
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (r *runner) password(pw string) string {
	r.mu.Lock()
	r.passwords = append(r.passwords, pw)
	r.mu.Unlock()
	return pw
}

func (r *runner) output(s string) {
	r.mu.Lock()
	r.outputs = append(r.outputs, s)
	r.mu.Unlock()
}

func (r *runner) err(err error) error {
	if err != nil {
		r.output(err.Error())
		r.output(fmt.Sprintf("%+v %#v", err, err))
	}
	return err
}

// bed is one scenario's database, emulator and secret.
type bed struct {
	r    *runner
	db   *testdb.DB
	sm   *smtest.Server
	arn  string
	name string
}

func (r *runner) newBed(t *testing.T, strategy rotation.Strategy) *bed {
	t.Helper()
	b := &bed{r: r, db: testdb.Open(t, r.cfg.DB), sm: smtest.NewServer(), name: "rds/app"}
	t.Cleanup(b.sm.Close)
	r.password(b.db.Password)
	var secret map[string]any
	if err := json.Unmarshal([]byte(b.db.SecretJSON()), &secret); err != nil {
		t.Fatal(err)
	}
	if strategy == rotation.AlternatingUsers {
		secret["masterarn"] = b.sm.CreateSecret("rds/admin", b.db.AdminSecretJSON())
	}
	value, err := json.Marshal(secret)
	if err != nil {
		t.Fatal(err)
	}
	b.arn = b.sm.CreateSecret(b.name, string(value))
	return b
}

// open returns a pool on a secretsql Connector with the runner's logger and
// observer.
func (b *bed) open(t *testing.T, dsn string, opts ...secretsql.Option) *sql.DB {
	t.Helper()
	opts = append([]secretsql.Option{
		secretsql.WithClient(b.sm.Client()),
		secretsql.WithLogger(b.r.log),
		secretsql.WithObserver(func(e secretsql.Event) { b.r.output(fmt.Sprintf("%v %+v %#v", e, e, e)) }),
	}, opts...)
	c, err := secretsql.NewConnector(b.r.cfg.Engine, dsn, opts...)
	if err != nil {
		t.Fatal(b.r.err(err))
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

func (b *bed) rotator(strategy rotation.Strategy, hook func(context.Context, rotation.Step) error) *rotation.Rotator {
	return &rotation.Rotator{
		Client: b.sm.Client(), DB: b.db, Strategy: strategy, Hook: hook,
		NewPassword: func() (string, error) {
			pw, err := rotation.GeneratePassword()
			return b.r.password(pw), err
		},
	}
}

// openForms: sql.Open with the driver name and a full ARN, a partial ARN and
// a name (AWS settings from the environment, as applications have them);
// queries work and sql.Conn.Raw reaches the native conn.
func (r *runner) openForms(t *testing.T) {
	b := r.newBed(t, rotation.SingleUser)
	cfg := b.sm.Config()
	creds, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_REGION", cfg.Region)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", b.sm.URL)
	partial := b.arn[:len(b.arn)-7]
	for _, id := range []string{b.arn, partial, b.name} {
		db, err := sql.Open(engine.DriverPrefix+r.cfg.Engine, id)
		if err != nil {
			t.Fatal(r.err(err))
		}
		var n int
		if err := db.QueryRowContext(t.Context(), "SELECT 40 + 2").Scan(&n); err != nil || n != 42 {
			t.Fatalf("%s: query = %d, %v", id, n, r.err(err))
		}
		conn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Raw(func(dc any) error { return r.cfg.RawConn(dc) }); err != nil {
			t.Fatalf("%s: sql.Conn.Raw: %v", id, err)
		}
		conn.Close()
		db.Close()
	}
	// The DSN's endpoint key works without the environment variable.
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "")
	db, err := sql.Open(engine.DriverPrefix+r.cfg.Engine, b.name+"?endpoint="+url.QueryEscape(b.sm.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(r.err(err))
	}
	if n := b.sm.Calls(getOp); n != 4 {
		t.Errorf("%d GetSecretValue calls for 4 pools, want 4", n)
	}
}

// coldStorm: n concurrent first connects, each holding its connection until
// all are connected → exactly one GetSecretValue.
func (r *runner) coldStorm(t *testing.T) {
	b := r.newBed(t, rotation.SingleUser)
	n := r.cfg.ColdStorm
	WaitForFreeConnections(t, b.db, n)
	b.sm.SetLatency(getOp, 20*time.Millisecond) // let every connect find the fetch in flight
	db := b.open(t, b.arn)
	db.SetMaxOpenConns(n)
	var wg, held sync.WaitGroup
	release := make(chan struct{})
	var failed atomic.Int64
	start := time.Now()
	for range n {
		wg.Add(1)
		held.Add(1)
		go func() {
			defer wg.Done()
			conn, err := db.Conn(t.Context())
			held.Done()
			if err != nil {
				failed.Add(1)
				t.Error(r.err(err))
				return
			}
			defer conn.Close()
			if err := conn.PingContext(t.Context()); err != nil {
				failed.Add(1)
				t.Error(r.err(err))
			}
			<-release
		}()
	}
	held.Wait()
	took := time.Since(start)
	close(release)
	wg.Wait()
	calls := b.sm.Calls(getOp)
	t.Logf("cold storm: %d concurrent connects, %d failed, %d GetSecretValue call(s), all connected in %v", n, failed.Load(), calls, took)
	if calls != 1 || failed.Load() != 0 {
		t.Fatalf("%d calls and %d failures, want 1 and 0", calls, failed.Load())
	}
}

// WaitForFreeConnections waits (up to 30 s) until the server has room for
// n more connections besides the ones in use and those reserved for
// superusers, so that a storm measures secretsql and not a busy server.
func WaitForFreeConnections(t *testing.T, db *testdb.DB, n int) {
	t.Helper()
	q := `SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')`
	if db.Engine == testdb.EngineMariaDB {
		q = `SELECT @@max_connections - (SELECT COUNT(*) FROM information_schema.PROCESSLIST)`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var free int
		if err := db.Admin.QueryRowContext(t.Context(), q).Scan(&free); err != nil {
			t.Fatal(err)
		}
		if free >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server has room for %d connections, the storm needs %d: something else holds connections", free, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// load runs workers querying db until stop is closed; it returns the
// counts of queries and failures.
type load struct {
	queries, failures atomic.Int64
	firstErr          atomic.Value
	wg                sync.WaitGroup
	stop              chan struct{}
}

func startLoad(r *runner, db *sql.DB, workers int) *load {
	l := &load{stop: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				var one int
				err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
				cancel()
				l.queries.Add(1)
				if err != nil {
					if l.failures.Add(1) == 1 {
						l.firstErr.Store(r.err(err))
					}
				}
			}
		}()
	}
	return l
}

func (l *load) finish() {
	close(l.stop)
	l.wg.Wait()
}

// rotationUnderLoad: 50 workers on a pool of at most 20 connections with a
// 50 ms lifetime, while the rotation runner holds the setSecret→finishSecret
// window open for 2 s → no failed query, at most 3 GetSecretValue calls.
func (r *runner) rotationUnderLoad(t *testing.T, strategy rotation.Strategy) {
	b := r.newBed(t, strategy)
	// The pool reads the secret by name and the rotation runner by ARN, so
	// the emulator's log tells their calls apart.
	db := b.open(t, b.name)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	db.SetConnMaxLifetime(50 * time.Millisecond)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(r.err(err))
	}
	rounds := 1
	if strategy == rotation.AlternatingUsers {
		// The first rotation creates the clone; the second changes the
		// password of the user the pool logged in with.
		rounds = 2
	}
	l := startLoad(r, db, 50)
	time.Sleep(300 * time.Millisecond)
	for i := range rounds {
		var window atomic.Int64
		before := b.callsAs(b.name)
		hook := func(ctx context.Context, next rotation.Step) error {
			if next == rotation.FinishSecret {
				start := time.Now()
				time.Sleep(2 * time.Second) // the window: database changed, AWSCURRENT not yet
				window.Add(int64(time.Since(start)))
			}
			return nil
		}
		if _, err := b.rotator(strategy, hook).Rotate(t.Context(), b.arn); err != nil {
			l.finish()
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // keep connecting after finishSecret
		driverCalls := b.callsAs(b.name) - before
		t.Logf("%s rotation %d: window %v, driver GetSecretValue calls %d", strategy, i+1,
			time.Duration(window.Load()), driverCalls)
		if driverCalls > 3 {
			t.Errorf("rotation %d: %d GetSecretValue calls by the driver, want at most 3", i+1, driverCalls)
		}
	}
	l.finish()
	t.Logf("%s rotation under load: %d queries, %d failed", strategy, l.queries.Load(), l.failures.Load())
	if l.failures.Load() != 0 {
		t.Fatalf("%d of %d queries failed; first: %v", l.failures.Load(), l.queries.Load(), l.firstErr.Load())
	}
	if l.queries.Load() < 1000 {
		t.Fatalf("only %d queries: the load did not run", l.queries.Load())
	}
}

// callsAs counts the GetSecretValue calls that named the secret exactly as
// id (smtest.SecretCalls counts every form of the id).
func (b *bed) callsAs(id string) int {
	n := 0
	for _, c := range b.sm.Log() {
		if c.Operation == getOp && c.SecretID == id {
			n++
		}
	}
	return n
}

// outage: with a warm cache and a 1 s refresh interval, Secrets Manager
// refuses connections for 2.5 s; new connections keep working.
func (r *runner) outage(t *testing.T) {
	b := r.newBed(t, rotation.SingleUser)
	db := b.open(t, b.arn+"?ttl=1s")
	db.SetMaxIdleConns(0) // every query opens a new connection
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(r.err(err))
	}
	b.sm.Outage()
	deadline := time.Now().Add(2500 * time.Millisecond)
	n := 0
	for ; time.Now().Before(deadline); n++ {
		if err := db.PingContext(t.Context()); err != nil {
			t.Fatalf("connect %d during the outage: %v", n, r.err(err))
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.sm.Restore()
	t.Logf("outage: %d new connections during 2.5 s without Secrets Manager, 0 failed", n)
}

// databaseDown: a database port with no server → the driver's own error at
// once, and no GetSecretValue call beyond the first.
func (r *runner) databaseDown(t *testing.T) {
	b := r.newBed(t, rotation.SingleUser)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	db := b.open(t, fmt.Sprintf("%s?port=%d", b.arn, port))
	for range 5 {
		err := r.err(db.PingContext(t.Context()))
		var op *net.OpError
		if !errors.As(err, &op) || errors.Is(err, secretsql.ErrAuthFailed) {
			t.Fatalf("err = %v (%T), want the driver's network error", err, err)
		}
	}
	if n := b.sm.Calls(getOp); n != 1 {
		t.Fatalf("%d GetSecretValue calls, want 1", n)
	}
}

// wrongPassword: the secret holds a password the database rejects → an
// AuthError after the retry budget, wrapping the driver's error; calls are
// bounded by the minimum refresh interval.
func (r *runner) wrongPassword(t *testing.T) {
	b := r.newBed(t, rotation.SingleUser)
	wrong := r.password(testdb.RandomPassword())
	b.sm.PutSecretString(b.name, b.db.SecretJSONFor(b.db.User, wrong))
	// Prove the database rejects it before trusting anything else.
	if err := b.db.Login(t.Context(), b.db.User, wrong); !r.cfg.IsAuthError(err) {
		t.Fatalf("the server accepted a wrong password (err = %v): is password authentication on?", err)
	}
	db := b.open(t, b.arn, secretsql.WithMinRefreshInterval(200*time.Millisecond))
	start := time.Now()
	err := r.err(db.PingContext(t.Context()))
	took := time.Since(start)
	var ae *secretsql.AuthError
	if !errors.Is(err, secretsql.ErrAuthFailed) || !errors.As(err, &ae) || !r.cfg.IsAuthError(err) {
		t.Fatalf("err = %v, want an AuthError wrapping the driver's error", err)
	}
	if ae.SecretARN != b.arn || ae.VersionID == "" || !strings.Contains(err.Error(), b.arn) {
		t.Fatalf("error does not name the secret and version: %v", err)
	}
	calls := b.sm.Calls(getOp)
	limit := 1 + 2*(int(took/(200*time.Millisecond))+1)
	t.Logf("wrong password: failed after %d attempts in %v with %d GetSecretValue calls (bound %d)", ae.Attempts, took, calls, limit)
	if calls > limit {
		t.Fatalf("%d calls in %v, want at most %d", calls, took, limit)
	}
	// Once the secret is fixed, the same pool recovers.
	b.sm.PutSecretString(b.name, b.db.SecretJSON())
	time.Sleep(250 * time.Millisecond)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("after fixing the secret: %v", r.err(err))
	}
}

// typedErrors: every way a secret or a DSN can be wrong yields an error
// matching an exported sentinel.
func (r *runner) typedErrors(t *testing.T) {
	b := r.newBed(t, rotation.SingleUser)
	var base map[string]any
	if err := json.Unmarshal([]byte(b.db.SecretJSON()), &base); err != nil {
		t.Fatal(err)
	}
	with := func(change func(m map[string]any)) string {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		change(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	other := "postgres"
	if r.cfg.Engine == "postgres" {
		other = "mysql"
	}
	deleted := b.sm.CreateSecret("deleted", b.db.SecretJSON())
	if _, err := b.sm.Client().DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(deleted)}); err != nil {
		t.Fatal(err)
	}
	denied := b.sm.CreateSecret("denied", b.db.SecretJSON())
	b.sm.Deny(denied)
	b.sm.CreateBinarySecret("binary", []byte(b.db.SecretJSON()))
	cases := []struct {
		name, secret, dsn string
		want              error
	}{
		{"engine mismatch", with(func(m map[string]any) { m["engine"] = other }), "", secretsql.ErrEngineMismatch},
		{"missing username", with(func(m map[string]any) { delete(m, "username") }), "", secretsql.ErrMissingKey},
		{"missing password", with(func(m map[string]any) { delete(m, "password") }), "", secretsql.ErrMissingKey},
		{"missing host", with(func(m map[string]any) { delete(m, "host") }), "", secretsql.ErrMissingKey},
		{"port not a number", with(func(m map[string]any) { m["port"] = "x" }), "", secretsql.ErrMalformedSecret},
		{"malformed JSON", `{"username":`, "", secretsql.ErrMalformedSecret},
		{"JSON array", `[1,2]`, "", secretsql.ErrMalformedSecret},
		{"deleted secret", "", deleted, secretsql.ErrSecretDeleted},
		{"access denied", "", denied, secretsql.ErrAccessDenied},
		{"unknown secret", "", "no/such/secret", secretsql.ErrSecretNotFound},
	}
	for i, c := range cases {
		dsn := c.dsn
		if c.secret != "" {
			dsn = b.sm.CreateSecret(fmt.Sprintf("case%d", i), c.secret)
		}
		db := b.open(t, dsn)
		err := r.err(db.PingContext(t.Context()))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	// The binary form of a good secret works.
	if err := b.open(t, "binary").PingContext(t.Context()); err != nil {
		t.Errorf("binary secret: %v", r.err(err))
	}
	// A host given in the DSN makes an RDS-managed secret (username and
	// password only) usable.
	managed := b.sm.CreateSecret("managed", fmt.Sprintf(`{"username":%q,"password":%q}`, b.db.User, b.db.Password))
	if err := b.open(t, fmt.Sprintf("%s?host=%s&port=%d&dbname=%s", managed, b.db.Host, b.db.Port, b.db.Database)).PingContext(t.Context()); err != nil {
		t.Errorf("RDS-managed secret with DSN overrides: %v", r.err(err))
	}
	for _, dsn := range []string{"", "x?port=0", "x?ttl=1", "x?stage=", "x?region=Nope", "x?user=root", "x?password=pw", "bad name!"} {
		_, err := secretsql.NewConnector(r.cfg.Engine, dsn, secretsql.WithClient(b.sm.Client()))
		if !errors.Is(r.err(err), secretsql.ErrInvalidDSN) {
			t.Errorf("DSN %q: err = %v, want ErrInvalidDSN", dsn, err)
		}
	}
}

// hostilePasswords: passwords with every special character the test bed
// generates, and unicode, log in.
func (r *runner) hostilePasswords(t *testing.T) {
	b := r.newBed(t, rotation.SingleUser)
	for _, pw := range []string{
		testdb.HostileChars + "x",
		` leading and trailing `,
		`'; DROP TABLE x; --`,
		`a\'b\\c"d` + "`e",
		"ünïcødé-密码-🔑",
		"key=value&other=1#frag?q",
		"{}}{" + "%41%zz" + "+",
	} {
		r.password(pw)
		if err := b.db.SetPassword(t.Context(), b.db.User, pw); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("hostile-%d", len(r.passwords))
		arn := b.sm.CreateSecret(name, b.db.SecretJSONFor(b.db.User, pw))
		if err := b.open(t, arn).PingContext(t.Context()); err != nil {
			t.Errorf("password %q: %v", pw, r.err(err))
		}
	}
}

// cancelledCaller: a caller whose context ends while the first fetch is slow
// returns at once; the next caller gets the secret from that same fetch.
func (r *runner) cancelledCaller(t *testing.T) {
	b := r.newBed(t, rotation.SingleUser)
	b.sm.SetLatency(getOp, 4*time.Second)
	db := b.open(t, b.arn)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.err(db.PingContext(ctx))
	took := time.Since(start)
	t.Logf("cancelled caller returned after %v with: %v", took, err)
	if !errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
		t.Fatalf("err = %v after %v, want DeadlineExceeded well before the 4 s fetch", err, took)
	}
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("next caller: %v", r.err(err))
	}
	if n := b.sm.Calls(getOp); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

// noPasswordInOutput: no password used by the scenarios above appears in
// any error, log record or observer event they produced.
func (r *runner) noPasswordInOutput(t *testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	logs := r.logBuf.String()
	if len(r.passwords) == 0 || len(r.outputs) == 0 || logs == "" {
		t.Fatalf("too little was recorded to check (%d passwords, %d outputs, %d bytes of logs)",
			len(r.passwords), len(r.outputs), len(logs))
	}
	all := strings.Join(r.outputs, "\n") + "\n" + logs
	for _, pw := range r.passwords {
		for _, form := range []string{pw, url.QueryEscape(pw), url.PathEscape(pw)} {
			if len(strings.TrimSpace(form)) >= 4 && strings.Contains(all, form) {
				t.Errorf("a password (%d chars) appears in the output", len(pw))
			}
		}
	}
	t.Logf("checked %d passwords against %d errors/events and %d bytes of logs", len(r.passwords), len(r.outputs), len(logs))
}
