package reliability

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/testdb"
)

// events counts observed events by kind.
type events struct {
	mu sync.Mutex
	n  map[secretsql.EventKind]int
}

func (e *events) observe(ev secretsql.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n = map[secretsql.EventKind]int{}
	}
	e.n[ev.Kind]++
}

func (e *events) count(k secretsql.EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[k]
}

// TestOutageWarmCache: Secrets Manager is unreachable for longer than the
// refresh interval (ttl=1s); every connect keeps working on the cached
// credentials.
func TestOutageWarmCache(t *testing.T) {
	t.Parallel()
	tdb := testdb.Postgres(t)
	srv := newSM(t)
	name := uniqueName(t)
	srv.CreateSecret(name, tdb.SecretJSON())
	var ev events
	db, _ := openDB(t, srv, "postgres", name+"?ttl=1s", secretsql.WithObserver(ev.observe))
	db.SetMaxIdleConns(0) // every ping is a new connect
	if err := ping(db, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	srv.Outage()
	defer srv.Restore()
	failed, total := 0, 0
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); total++ {
		if err := ping(db, 5*time.Second); err != nil {
			failed++
			t.Logf("connect during the outage: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if failed != 0 {
		t.Errorf("%d of %d connects failed during the outage", failed, total)
	}
	if ev.count(secretsql.EventStaleServed) == 0 || ev.count(secretsql.EventFetchFailed) == 0 {
		t.Errorf("no refresh failed during the outage (stale_served %d, fetch_failed %d): the test did not outlast the ttl",
			ev.count(secretsql.EventStaleServed), ev.count(secretsql.EventFetchFailed))
	}
}

// TestThrottlingStorm: every GetSecretValue is throttled while 64
// goroutines connect for 2 s: each fails with ErrThrottled, the calls stay
// few (the first-fetch failure is shared, with backoff), and once the
// throttling ends a connect succeeds.
func TestThrottlingStorm(t *testing.T) {
	t.Parallel()
	tdb := testdb.Postgres(t)
	srv := newSM(t)
	name := uniqueName(t)
	srv.CreateSecret(name, tdb.SecretJSON())
	srv.FailNext(getOp, 1_000_000, "ThrottlingException")
	db, _ := openDB(t, srv, "postgres", name, secretsql.WithMinRefreshInterval(200*time.Millisecond))
	db.SetMaxIdleConns(0)
	var attempts, other atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(2 * time.Second)
	for range 64 {
		wg.Go(func() {
			for time.Now().Before(end) {
				attempts.Add(1)
				if err := ping(db, 5*time.Second); !errors.Is(err, secretsql.ErrThrottled) {
					other.Add(1)
					t.Errorf("connect while throttled: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	calls := srv.Calls(getOp)
	// 200ms, 400ms, 800ms, 1.6s (±25%) between calls: at most 5 in 2 s.
	if calls < 2 || calls > 6 {
		t.Errorf("%d GetSecretValue calls for %d connects in 2 s, want 2-6 (backoff)", calls, attempts.Load())
	}
	srv.FailNext(getOp, 0, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ping(db, 5*time.Second)
		if err == nil {
			break
		}
		if !errors.Is(err, secretsql.ErrThrottled) || time.Now().After(deadline) {
			t.Fatalf("after the throttling: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSlowSecretsManager: GetSecretValue takes 2 s; a caller with a 300 ms
// deadline returns at its deadline, and a later caller with time to wait
// gets the result of the same call.
func TestSlowSecretsManager(t *testing.T) {
	t.Parallel()
	tdb := testdb.Postgres(t)
	srv := newSM(t)
	name := uniqueName(t)
	srv.CreateSecret(name, tdb.SecretJSON())
	srv.SetLatency(getOp, 3*time.Second)
	db, _ := openDB(t, srv, "postgres", name)
	start := time.Now()
	err := ping(db, 300*time.Millisecond)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impatient caller: %v, want context.DeadlineExceeded", err)
	}
	if took > 1500*time.Millisecond { // half the fetch's 3s: it did not wait for the fetch
		t.Errorf("impatient caller returned after %v, its deadline was 300ms", took)
	}
	if err := ping(db, 10*time.Second); err != nil {
		t.Fatalf("patient caller: %v", err)
	}
	if n := srv.Calls(getOp); n != 1 {
		t.Errorf("%d GetSecretValue calls, want 1 (the patient caller waits on the first)", n)
	}
}

// TestSecretDeletedInUse: the secret is scheduled for deletion while in
// use. Cached credentials keep working; once the database rejects them the
// error is typed as both ErrAuthFailed and ErrSecretDeleted.
func TestSecretDeletedInUse(t *testing.T) {
	t.Parallel()
	tdb := testdb.Postgres(t)
	srv := newSM(t)
	name := uniqueName(t)
	srv.CreateSecret(name, tdb.SecretJSON())
	var ev events
	db, _ := openDB(t, srv, "postgres", name+"?ttl=1s", secretsql.WithObserver(ev.observe),
		secretsql.WithMinRefreshInterval(0), secretsql.WithRetry(2, 10*time.Millisecond))
	db.SetMaxIdleConns(0)
	if err := ping(db, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	deleteSecret(t, srv, name)
	time.Sleep(1100 * time.Millisecond) // past the ttl: the next connect refreshes
	for i := range 5 {
		if err := ping(db, 10*time.Second); err != nil {
			t.Fatalf("connect %d after the deletion, with the password unchanged: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, func() bool { return ev.count(secretsql.EventStaleServed) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tdb.SetPassword(ctx, tdb.User, testdb.RandomPassword()); err != nil {
		t.Fatal(err)
	}
	err := ping(db, 10*time.Second)
	var ae *secretsql.AuthError
	if !errors.Is(err, secretsql.ErrAuthFailed) || !errors.As(err, &ae) || !errors.Is(ae.FetchErr, secretsql.ErrSecretDeleted) {
		t.Fatalf("after the password changed: %v; want an *AuthError matching ErrAuthFailed whose FetchErr matches ErrSecretDeleted", err)
	}
	if errors.Is(err, secretsql.ErrSecretDeleted) {
		t.Errorf("the AuthError matches a second sentinel, ErrSecretDeleted: %v", err)
	}
}

// TestSecretEngineChanged: the secret is changed to another engine; new
// connects fail with ErrEngineMismatch, and the connections already open
// keep working.
func TestSecretEngineChanged(t *testing.T) {
	t.Parallel()
	tdb := testdb.Postgres(t)
	srv := newSM(t)
	name := uniqueName(t)
	srv.CreateSecret(name, tdb.SecretJSON())
	var ev events
	db, _ := openDB(t, srv, "postgres", name+"?ttl=1s", secretsql.WithObserver(ev.observe))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	held, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	db.SetMaxIdleConns(0)
	putCurrent(t, srv, name, fmt.Sprintf(`{"engine":"mysql","host":"127.0.0.1","port":3306,"username":"%s","password":"x"}`, tdb.User))
	time.Sleep(1100 * time.Millisecond)
	_ = ping(db, 5*time.Second) // served from the cache; starts the refresh
	waitFor(t, 5*time.Second, func() bool { return ev.count(secretsql.EventFetch) >= 2 })
	err = ping(db, 5*time.Second)
	var se *secretsql.SecretError
	if !errors.Is(err, secretsql.ErrEngineMismatch) || !errors.As(err, &se) {
		t.Errorf("new connect: %v, want a *SecretError matching ErrEngineMismatch", err)
	}
	var one int
	if err := held.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("open connection after the engine change: %v", err)
	}
}

// TestDatabaseRestart restarts a private PostgreSQL server under load: the
// pool recovers once the server is back, without a GetSecretValue call
// (the credentials did not change). The shared test-bed servers are never
// restarted: other packages use them.
func TestDatabaseRestart(t *testing.T) {
	t.Parallel()
	pg := startPrivatePostgres(t)
	srv := newSM(t)
	name := uniqueName(t)
	srv.CreateSecret(name, fmt.Sprintf(`{"engine":"postgres","host":"127.0.0.1","port":%d,"username":"app","password":%q,"dbname":"postgres"}`, pg.port, pg.password))
	db, _ := openDB(t, srv, "postgres", name+"?connect_timeout=2")
	db.SetMaxOpenConns(8)
	if err := ping(db, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls(getOp)

	var ok, failed atomic.Int64
	var lastOK atomic.Int64 // unix nanos of the latest success
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				var one int
				err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
				cancel()
				if err == nil {
					ok.Add(1)
					lastOK.Store(time.Now().UnixNano())
				} else {
					failed.Add(1)
					if errors.Is(err, secretsql.ErrAuthFailed) || errors.Is(err, secretsql.ErrSecretsManager) {
						t.Errorf("query during the restart: %v", err)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	pg.ctl(t, "stop", "-m", "immediate")
	time.Sleep(500 * time.Millisecond)
	pg.ctl(t, "start", "-w", "-l", filepath.Join(pg.dir, "log"))
	restarted := time.Now()
	waitFor(t, 15*time.Second, func() bool { return lastOK.Load() > restarted.UnixNano() })
	okAfter := ok.Load()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if ok.Load()-okAfter < 16 {
		t.Errorf("only %d queries succeeded in the 500ms after recovery", ok.Load()-okAfter)
	}
	if failed.Load() == 0 {
		t.Errorf("no query failed while the server was down: the restart did not happen under load")
	}
	if n := srv.Calls(getOp) - calls; n != 0 {
		t.Errorf("%d GetSecretValue calls during the restart, want 0", n)
	}
}

type privatePostgres struct {
	bin, dir, password string
	port               int
}

// startPrivatePostgres runs initdb and pg_ctl as the postgres OS user in a
// fresh directory, with scram-sha-256 password authentication on 127.0.0.1
// and a free port, and a login user app. It is stopped and removed when the
// test ends. Without the binaries or root the test is skipped (it fails
// when CI is "true").
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		unavailable("no /usr/lib/postgresql/*/bin/initdb: install the PostgreSQL server package")
	}
	if os.Geteuid() != 0 {
		unavailable("starting a private PostgreSQL needs root (to run initdb as the postgres user)")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		unavailable("runuser not found: %v", err)
	}
	pg := &privatePostgres{bin: filepath.Dir(bins[len(bins)-1]), password: testdb.RandomPassword()}
	dir, err := os.MkdirTemp("", "secretsql-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if out, err := exec.Command("chown", "postgres:", dir).CombinedOutput(); err != nil {
		unavailable("chown postgres %s: %v: %s", dir, err, out)
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(pg.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exec.Command("chown", "postgres:", pwfile).Run()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pg.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	data := filepath.Join(dir, "data")
	pg.run(t, filepath.Join(pg.bin, "initdb"), "-D", data, "-U", "app", "--auth=scram-sha-256", "--pwfile="+pwfile, "--no-sync", "-E", "UTF8")
	os.Remove(pwfile)
	conf := fmt.Sprintf("\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\nmax_connections = 40\n", pg.port, dir)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(conf)
	f.Close()
	pg.ctl(t, "start", "-w", "-l", filepath.Join(dir, "log"))
	t.Cleanup(func() { pg.ctlQuiet("stop", "-m", "immediate") })
	return pg
}

func (pg *privatePostgres) run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.dir, "log"))
		t.Fatalf("%s %v: %v\n%s\n%s", filepath.Base(name), args, err, out, log)
	}
}

func (pg *privatePostgres) ctl(t *testing.T, args ...string) {
	t.Helper()
	pg.run(t, filepath.Join(pg.bin, "pg_ctl"), append([]string{"-D", filepath.Join(pg.dir, "data")}, args...)...)
}

func (pg *privatePostgres) ctlQuiet(args ...string) {
	exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pg.bin, "pg_ctl"), "-D", filepath.Join(pg.dir, "data")}, args...)...).Run()
}
