package sqlserver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/secretsql/secretsql"
	_ "github.com/secretsql/secretsql/engines/sqlserver"
	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/tdstest"
	"github.com/secretsql/secretsql/smtest"
)

// fixture is a Secrets Manager emulator holding a SQL Server secret for a
// tdstest server.
type fixture struct {
	sm  *smtest.Server
	db  *tdstest.Server
	arn string
}

func newFixture(t *testing.T, user, serverPassword, secretPassword string) *fixture {
	t.Helper()
	sm := smtest.NewServer()
	t.Cleanup(sm.Close)
	db := tdstest.NewServer(t, user, serverPassword)
	f := &fixture{sm: sm, db: db}
	f.arn = sm.CreateSecret("prod/mssql-"+strings.ReplaceAll(t.Name(), "/", "-"), f.secret(user, secretPassword))
	return f
}

// secret returns the JSON of an RDS SQL Server secret for the server.
func (f *fixture) secret(user, password string) string {
	b, err := json.Marshal(map[string]any{
		"engine": "sqlserver", "host": f.db.Host(), "port": f.db.Port(),
		"username": user, "password": password, "dbname": "sales",
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// open returns a sql.DB on a secretsql Connector for the fixture's secret.
func (f *fixture) open(t *testing.T, opts ...secretsql.Option) *sql.DB {
	t.Helper()
	c, err := secretsql.NewConnector("sqlserver", f.arn+"?encrypt=disable&app+name=e2e",
		append([]secretsql.Option{secretsql.WithClient(f.sm.Client())}, opts...)...)
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

func selectInt(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, n int) error {
	var got int
	if err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT %d", n)).Scan(&got); err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("SELECT %d returned %d", n, got)
	}
	return nil
}

// load runs SELECTs from a number of workers until stopped.
type load struct {
	wg       sync.WaitGroup
	done     chan struct{}
	queries  atomic.Int64
	failures atomic.Int64
	mu       sync.Mutex
	firstErr error
}

func startLoad(ctx context.Context, db *sql.DB, workers int) *load {
	l := &load{done: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.done:
					return
				default:
				}
				qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				err := selectInt(qctx, db, w*100000+i%100000)
				cancel()
				l.queries.Add(1)
				if err != nil {
					l.failures.Add(1)
					l.mu.Lock()
					if l.firstErr == nil {
						l.firstErr = err
					}
					l.mu.Unlock()
				}
			}
		}()
	}
	return l
}

// stop stops the workers and returns the number of queries, of failed
// queries, and the first error.
func (l *load) stop() (queries, failures int64, firstErr error) {
	close(l.done)
	l.wg.Wait()
	return l.queries.Load(), l.failures.Load(), l.firstErr
}

// TestColdConnects opens 200 connections at once on a fresh connector: they
// all wait for one GetSecretValue call.
func TestColdConnects(t *testing.T) {
	const n = 200
	f := newFixture(t, "app", "pw-1", "pw-1")
	f.sm.SetLatency("GetSecretValue", 100*time.Millisecond) // keep the first fetch in flight while all connects arrive
	db := f.open(t)
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		wg        sync.WaitGroup
		connected sync.WaitGroup
		release   = make(chan struct{})
		failures  atomic.Int64
	)
	connected.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := db.Conn(ctx)
			connected.Done()
			if err != nil {
				failures.Add(1)
				t.Errorf("connect %d: %v", i, err)
				return
			}
			defer conn.Close()
			<-release // hold the connection until every one is open
			if err := selectInt(ctx, conn, i); err != nil {
				failures.Add(1)
				t.Errorf("query %d: %v", i, err)
			}
		}()
	}
	connected.Wait()
	open := f.db.OpenConns()
	close(release)
	wg.Wait()

	calls := f.sm.Calls("GetSecretValue")
	t.Logf("%d cold connects: %d GetSecretValue call(s), %d logins, %d open at once, %d failures",
		n, calls, f.db.Logins(), open, failures.Load())
	if calls != 1 {
		t.Errorf("GetSecretValue calls = %d, want exactly 1", calls)
	}
	if open != n || f.db.Logins() != n || f.db.FailedLogins() != 0 {
		t.Errorf("open at once %d, logins %d, failed logins %d; want %d, %d, 0", open, f.db.Logins(), f.db.FailedLogins(), n, n)
	}
}

// TestRotationUnderLoad rotates the password (single user) while 64 workers
// query through a pool of 20 connections that live 50ms each, holding the
// window between setSecret and finishSecret open for 2s.
func TestRotationUnderLoad(t *testing.T) {
	const (
		workers = 64
		window  = 2 * time.Second
	)
	f := newFixture(t, "app", "old-pw", "old-pw")
	db := f.open(t)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	db.SetConnMaxLifetime(50 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := selectInt(ctx, db, 1); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}

	load := startLoad(ctx, db, workers)
	time.Sleep(300 * time.Millisecond) // steady state on the old password

	before := f.sm.Calls("GetSecretValue")
	client := f.sm.Client()
	// createSecret
	put, err := client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:      aws.String(f.arn),
		SecretString:  aws.String(f.secret("app", "new-pw")),
		VersionStages: []string{"AWSPENDING"},
	})
	if err != nil {
		t.Fatalf("PutSecretValue: %v", err)
	}
	oldVersion := ""
	for id, stages := range f.sm.SecretVersions(f.arn) {
		for _, s := range stages {
			if s == "AWSCURRENT" {
				oldVersion = id
			}
		}
	}
	// setSecret: from now on only the new password logs in.
	f.db.SetPassword("new-pw")
	failedAtSet, loginsAtSet := f.db.FailedLogins(), f.db.Logins()
	time.Sleep(window)
	loginsInWindow := f.db.Logins() - loginsAtSet
	// finishSecret
	if _, err := client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(f.arn),
		VersionStage:        aws.String("AWSCURRENT"),
		MoveToVersionId:     put.VersionId,
		RemoveFromVersionId: aws.String(oldVersion),
	}); err != nil {
		t.Fatalf("UpdateSecretVersionStage AWSCURRENT: %v", err)
	}
	if _, err := client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(f.arn),
		VersionStage:        aws.String("AWSPENDING"),
		RemoveFromVersionId: put.VersionId,
	}); err != nil {
		t.Fatalf("UpdateSecretVersionStage AWSPENDING: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // keep the load on after the rotation
	queries, failures, firstErr := load.stop()

	rotationCalls := f.sm.Calls("GetSecretValue") - before
	t.Logf("rotation: %d queries by %d workers, %d failed; GetSecretValue calls: %d before, %d for the rotation; "+
		"logins %d (%d in the %v window), failed logins %d (%d after setSecret)",
		queries, workers, failures, before, rotationCalls,
		f.db.Logins(), loginsInWindow, window, f.db.FailedLogins(), f.db.FailedLogins()-failedAtSet)
	if failures != 0 {
		t.Errorf("%d of %d queries failed; first: %v", failures, queries, firstErr)
	}
	if rotationCalls > 3 {
		t.Errorf("GetSecretValue calls for the rotation = %d, want at most 3", rotationCalls)
	}
	// The test must have exercised the window: connections were replaced
	// while only the AWSPENDING password worked.
	if loginsInWindow < 10 {
		t.Errorf("only %d logins in the rotation window; the pool did not churn", loginsInWindow)
	}
	if f.db.FailedLogins() == failedAtSet {
		t.Error("no login was rejected after setSecret: the old password was never tried in the window")
	}
}

// TestWrongPassword goes through sql.Open("secretsmanager-sqlserver") and
// the SDK's default configuration chain: the database rejects the secret's
// password, and the error is ErrAuthFailed wrapping go-mssqldb's own.
func TestWrongPassword(t *testing.T) {
	const secretPassword = "stale-Pa55word"
	f := newFixture(t, "app", "the-real-one", secretPassword)
	t.Setenv("AWS_ACCESS_KEY_ID", smtest.DefaultAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", smtest.DefaultSecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_PROFILE", "")
	q := url.Values{"endpoint": {f.sm.URL}, "encrypt": {"disable"}}
	db, err := sql.Open("secretsmanager-sqlserver", f.arn+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err = db.PingContext(ctx)
	elapsed := time.Since(start)
	if !errors.Is(err, secretsql.ErrAuthFailed) {
		t.Fatalf("Ping: %v, want ErrAuthFailed", err)
	}
	var me mssql.Error
	if !errors.As(err, &me) || me.Number != 18456 {
		t.Errorf("errors.As(mssql.Error): %v (number %d), want 18456", err, me.Number)
	}
	var ae *secretsql.AuthError
	if !errors.As(err, &ae) || ae.Engine != "sqlserver" || ae.SecretARN != f.arn {
		t.Errorf("AuthError: %+v", ae)
	}
	if strings.Contains(err.Error(), secretPassword) || strings.Contains(err.Error(), "the-real-one") {
		t.Errorf("the error shows a password: %v", err)
	}
	calls := f.sm.Calls("GetSecretValue")
	t.Logf("wrong password: %v after %v, %d GetSecretValue call(s), %d failed logins", err, elapsed, calls, f.db.FailedLogins())
	if f.db.Logins() != 0 || f.db.FailedLogins() == 0 {
		t.Errorf("logins %d, failed %d", f.db.Logins(), f.db.FailedLogins())
	}
	// The first read, then AWSCURRENT again and AWSPENDING at most once per
	// forced refresh: a wrong password must not hammer Secrets Manager.
	if calls > 4 {
		t.Errorf("GetSecretValue calls = %d, want at most 4", calls)
	}

	// The secret is fixed: the next connect (after the forced-refresh
	// interval, 1s by default: see secretsql.WithMinRefreshInterval) logs in.
	f.sm.PutSecretString(f.arn, f.secret("app", "the-real-one"))
	time.Sleep(time.Second)
	if err := db.PingContext(ctx); err != nil {
		t.Errorf("Ping after the secret was fixed: %v", err)
	}
}

// TestDatabaseFromSecret checks that the secret's user and dbname reach the
// server, and that DSN keys override the secret.
func TestDatabaseFromSecret(t *testing.T) {
	f := newFixture(t, "app", "pw", "pw")
	db := f.open(t)
	var name, user string
	if err := db.QueryRow("SELECT DB_NAME()").Scan(&name); err != nil || name != "sales" {
		t.Errorf("DB_NAME() = %q, %v; want sales", name, err)
	}
	if err := db.QueryRow("SELECT SUSER_SNAME()").Scan(&user); err != nil || user != "app" {
		t.Errorf("SUSER_SNAME() = %q, %v; want app", user, err)
	}

	c, err := secretsql.NewConnector("sqlserver", f.arn+"?encrypt=disable&dbname=other+db", secretsql.WithClient(f.sm.Client()))
	if err != nil {
		t.Fatal(err)
	}
	db2 := sql.OpenDB(c)
	defer db2.Close()
	if err := db2.QueryRow("SELECT DB_NAME()").Scan(&name); err != nil || name != "other db" {
		t.Errorf("DB_NAME() with dbname=other+db: %q, %v", name, err)
	}
}

// TestBadParams checks that DSN parameters go-mssqldb would not understand,
// or that carry credentials, fail when the DSN is opened, before any secret
// is read.
func TestBadParams(t *testing.T) {
	f := newFixture(t, "app", "pw", "pw")
	for _, q := range []string{"encrypt=sometimes", "password=x", "user+id=sa", "encrpyt=true"} {
		_, err := secretsql.NewConnector("sqlserver", f.arn+"?"+q, secretsql.WithClient(f.sm.Client()))
		if !errors.Is(err, secretsql.ErrInvalidDSN) {
			t.Errorf("%s: %v, want ErrInvalidDSN", q, err)
		}
	}
	if calls := f.sm.Calls("GetSecretValue"); calls != 0 {
		t.Errorf("GetSecretValue calls = %d, want 0", calls)
	}
}

// tdsDatabase lets internal/rotation change the password of tdstest's user.
type tdsDatabase struct {
	srv  *tdstest.Server
	user string
}

func (d tdsDatabase) SetPassword(_ context.Context, user, password string) error {
	if user != d.user {
		return fmt.Errorf("tdstest has no user %q", user)
	}
	d.srv.SetPassword(password)
	return nil
}

func (d tdsDatabase) Login(ctx context.Context, user, password string) error {
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(user, password), Host: d.srv.Addr(), RawQuery: "encrypt=disable"}
	db, err := sql.Open("sqlserver", u.String())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// countingClient counts the GetSecretValue calls of one Connector, apart
// from the rotation's own.
type countingClient struct {
	secretsql.GetSecretValueAPI
	calls atomic.Int64
}

func (c *countingClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput,
	opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.calls.Add(1)
	return c.GetSecretValueAPI.GetSecretValue(ctx, in, opts...)
}

// TestRotationWithRotator runs the project's rotation runner (the four steps
// of an AWS rotation function, with a generated password full of URL and
// connection-string metacharacters) while 50 workers query, holding the
// setSecret→finishSecret window open for 2s.
func TestRotationWithRotator(t *testing.T) {
	const (
		workers = 50
		window  = 2 * time.Second
	)
	f := newFixture(t, "app", "initial-pw", "initial-pw")
	counter := &countingClient{GetSecretValueAPI: f.sm.Client()}
	c, err := secretsql.NewConnector("sqlserver", f.arn+"?encrypt=disable", secretsql.WithClient(counter))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	db.SetConnMaxLifetime(50 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := selectInt(ctx, db, 1); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	load := startLoad(ctx, db, workers)
	time.Sleep(300 * time.Millisecond)

	before := counter.calls.Load()
	// The hook runs before each step: before testSecret the database has
	// the new password; before finishSecret the window is held open.
	var loginsAtSet, failedAtSet, loginsInWindow, failedInWindow int64
	r := rotation.Rotator{
		Client: f.sm.Client(),
		DB:     tdsDatabase{f.db, "app"},
		Hook: func(ctx context.Context, next rotation.Step) error {
			switch next {
			case rotation.TestSecret:
				loginsAtSet, failedAtSet = f.db.Logins(), f.db.FailedLogins()
			case rotation.FinishSecret:
				select {
				case <-time.After(window):
				case <-ctx.Done():
					return ctx.Err()
				}
				// Less the rotation's own testSecret login.
				loginsInWindow, failedInWindow = f.db.Logins()-loginsAtSet-1, f.db.FailedLogins()-failedAtSet
			}
			return nil
		},
	}
	res, err := r.Rotate(ctx, f.arn)
	if err != nil {
		load.stop()
		t.Fatalf("Rotate: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	queries, failures, firstErr := load.stop()

	calls := counter.calls.Load() - before
	t.Logf("rotator: %d queries by %d workers, %d failed; the connector's GetSecretValue calls: %d before, %d for the rotation; "+
		"%d logins and %d rejected logins between setSecret and finishSecret (%v held); steps %v",
		queries, workers, failures, before, calls, loginsInWindow, failedInWindow, window, res.Timings)
	if failures != 0 {
		t.Errorf("%d of %d queries failed; first: %v", failures, queries, firstErr)
	}
	if calls > 3 {
		t.Errorf("GetSecretValue calls for the rotation = %d, want at most 3", calls)
	}
	if loginsInWindow < 10 {
		t.Errorf("only %d logins in the rotation window; the pool did not churn", loginsInWindow)
	}
	if failedInWindow == 0 {
		t.Error("no login was rejected after setSecret: the old password was never tried in the window")
	}
	pw := f.db.Password()
	if pw == "initial-pw" || !strings.ContainsAny(pw, rotation.HostileChars) {
		t.Errorf("the rotation did not set a generated password (hostile characters: %v)", strings.ContainsAny(pw, rotation.HostileChars))
	}
	versions := f.sm.SecretVersions(f.arn)
	if !slices.Contains(versions[res.VersionID], "AWSCURRENT") {
		t.Errorf("new version %s has stages %v", res.VersionID, versions[res.VersionID])
	}
	// After the rotation a fresh connector, reading AWSCURRENT, logs in.
	fresh := f.open(t)
	if err := selectInt(ctx, fresh, 2); err != nil {
		t.Errorf("fresh connector after the rotation: %v", err)
	}
}
