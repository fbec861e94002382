package vault

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/vault/vaulttest"

	_ "github.com/secretsql/secretsql/engines/mysql"
	_ "github.com/secretsql/secretsql/engines/postgres"
)

// loadDuration is how long the load tests run: SECRETSQL_VAULT_RUN (a Go
// duration) if set and longer than def, else def.
func loadDuration(t *testing.T, def time.Duration) time.Duration {
	if v := os.Getenv("SECRETSQL_VAULT_RUN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SECRETSQL_VAULT_RUN=%q: %v", v, err)
		}
		if d > def {
			return d
		}
	}
	return def
}

// startSrcVault starts a Vault dev server and points the environment at it
// (VAULT_ADDR, VAULT_TOKEN, no namespace, no retries).
func startSrcVault(t *testing.T) *vaulttest.Server {
	t.Helper()
	srv := vaulttest.Start(t)
	t.Setenv("VAULT_ADDR", srv.Addr)
	t.Setenv("VAULT_TOKEN", srv.Token)
	t.Setenv("VAULT_NAMESPACE", "")
	t.Setenv("VAULT_MAX_RETRIES", "")
	return srv
}

// dbTarget is a database secrets engine mount on one engine of the test bed.
type dbTarget struct {
	d      *vaulttest.Database
	engine string
	driver string
}

func newDBTarget(t *testing.T, srv *vaulttest.Server, engine string) dbTarget {
	t.Helper()
	tg := dbTarget{d: srv.Database(t, engine), engine: engine, driver: "secretsmanager-postgres"}
	if engine == testdb.EngineMariaDB {
		tg.driver = "secretsmanager-mysql"
	}
	return tg
}

// dsn is the vault: DSN of path on the target's database.
func (tg dbTarget) dsn(path string) string {
	q := url.Values{"host": {tg.d.DB.Host}, "port": {strconv.Itoa(tg.d.DB.Port)}, "dbname": {tg.d.DB.Database}}
	if tg.engine == testdb.EnginePostgres {
		q.Set("sslmode", "disable")
	}
	return "vault:" + path + "?" + q.Encode()
}

func (tg dbTarget) openDSN(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open(tg.driver, tg.dsn(path))
	if err != nil {
		t.Fatalf("sql.Open(%s): %v", tg.driver, err)
	}
	return db
}

// whoamiSQL returns the login user of the session.
// eventCounts counts a connector's events by kind.
type eventCounts struct{ n [8]atomic.Int64 }

func (e *eventCounts) observe(ev secretsql.Event) {
	if int(ev.Kind) < len(e.n) {
		e.n[ev.Kind].Add(1)
	}
}

func (e *eventCounts) String() string {
	return fmt.Sprintf("%d reads, %d failed reads, %d rejected logins, %d stale served",
		e.n[secretsql.EventFetch].Load(), e.n[secretsql.EventFetchFailed].Load(),
		e.n[secretsql.EventAuthFailed].Load(), e.n[secretsql.EventStaleServed].Load())
}

// openObserved opens path through a Connector whose events ev counts.
func (tg dbTarget) openObserved(t *testing.T, path string, ev *eventCounts) *sql.DB {
	t.Helper()
	name := "postgres"
	if tg.engine == testdb.EngineMariaDB {
		name = "mysql"
	}
	c, err := secretsql.NewConnector(name, tg.dsn(path), secretsql.WithObserver(ev.observe))
	if err != nil {
		t.Fatalf("NewConnector(%s): %v", name, err)
	}
	return sql.OpenDB(c)
}

func whoamiSQL(engine string) string {
	if engine == testdb.EngineMariaDB {
		return "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)"
	}
	return "SELECT current_user"
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func whoamiAs(ctx context.Context, q rowQuerier, engine string) (string, error) {
	var u string
	err := q.QueryRowContext(ctx, whoamiSQL(engine)).Scan(&u)
	return u, err
}

// leaseList lists the leases Vault holds under prefix (such as
// "postgres-1/creds/app").
func leaseList(t *testing.T, srv *vaulttest.Server, prefix string) []string {
	t.Helper()
	sec, err := srv.Client.Logical().ListWithContext(t.Context(), "sys/leases/lookup/"+prefix)
	if err != nil {
		t.Fatalf("listing the leases of %s: %v", prefix, err)
	}
	if sec == nil {
		return nil
	}
	keys, _ := sec.Data["keys"].([]any)
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprint(k))
	}
	return out
}

// lookupSrcLease reports whether Vault knows the lease.
func lookupSrcLease(t *testing.T, srv *vaulttest.Server, id string) error {
	_, err := srv.Client.Logical().WriteWithContext(t.Context(), "sys/leases/lookup", map[string]any{"lease_id": id})
	return err
}

// seenUsers is a set of user names seen.
type seenUsers struct {
	mu sync.Mutex
	m  map[string]int
}

func (u *seenUsers) add(name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]int{}
	}
	u.m[name]++
}

func (u *seenUsers) names() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for n := range u.m {
		out = append(out, n)
	}
	return out
}

func forEachEngine(t *testing.T, f func(t *testing.T, engine string)) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			f(t, engine)
		})
	}
}

// TestDynamicSharedLease: many concurrent connects of two sql.DBs on one
// DSN share one lease (one database user); closing the first DB keeps it,
// closing the last revokes it: no user left, the lease unknown to Vault.
func TestDynamicSharedLease(t *testing.T) {
	srv := startSrcVault(t)
	forEachEngine(t, func(t *testing.T, engine string) {
		tg := newDBTarget(t, srv, engine)
		tg.d.DynamicRole(t, "app", vaulttest.DynamicRole{DefaultTTL: time.Minute, MaxTTL: 5 * time.Minute})
		path := tg.d.Mount + "/creds/app"
		db1, db2 := tg.openDSN(t, path), tg.openDSN(t, path)
		defer db1.Close()
		defer db2.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()

		const n = 24
		var (
			seen  seenUsers
			wg    sync.WaitGroup
			errs  = make(chan error, n)
			conns = make(chan *sql.Conn, n)
		)
		for i := range n {
			db := db1
			if i%2 == 1 {
				db = db2
			}
			wg.Go(func() {
				c, err := db.Conn(ctx)
				if err != nil {
					errs <- err
					return
				}
				conns <- c
				u, err := whoamiAs(ctx, c, engine)
				if err != nil {
					errs <- err
					return
				}
				seen.add(u)
			})
		}
		wg.Wait()
		close(conns)
		for c := range conns {
			c.Close()
		}
		close(errs)
		for err := range errs {
			t.Errorf("connect: %v", err)
		}
		names := seen.names()
		ls := leaseList(t, srv, path)
		t.Logf("%d concurrent connects on 2 sql.DBs: users %v, leases %d", n, names, len(ls))
		if len(names) != 1 || len(ls) != 1 {
			t.Fatalf("users %v, %d leases; want one user and one lease", names, len(ls))
		}
		user, lease := names[0], path+"/"+ls[0]

		if err := db1.Close(); err != nil {
			t.Fatal(err)
		}
		if got := leaseList(t, srv, path); len(got) != 1 {
			t.Errorf("after closing the first DB: %d leases, want 1 (the second DB still reads)", len(got))
		}
		if _, err := whoamiAs(ctx, db2, engine); err != nil {
			t.Errorf("the second DB after the first closed: %v", err)
		}
		start := time.Now()
		if err := db2.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("closing the last DB took %v", time.Since(start))
		if got := leaseList(t, srv, path); len(got) != 0 {
			t.Errorf("after db.Close: %d leases, want 0", len(got))
		}
		if n := tg.d.UserCount(t, user); n != 0 {
			t.Errorf("after db.Close: %d database users %s, want 0", n, user)
		}
		if err := lookupSrcLease(t, srv, lease); err == nil {
			t.Errorf("after db.Close Vault still knows the lease")
		}
	})
}

// TestDynamicRenewal: a short lease (4 s, max_ttl 8 s) under query load is
// renewed several times, then replaced by new credentials before max_ttl,
// with no failed query; db.Close leaves no user.
func TestDynamicRenewal(t *testing.T) {
	srv := startSrcVault(t)
	var renewals sync.Map // mount -> *atomic.Int64
	testRenewed = func(id string, ttl time.Duration) {
		mount, _, _ := strings.Cut(id, "/")
		v, _ := renewals.LoadOrStore(mount, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	t.Cleanup(func() { testRenewed = nil })
	run := loadDuration(t, 15*time.Second)
	forEachEngine(t, func(t *testing.T, engine string) {
		tg := newDBTarget(t, srv, engine)
		tg.d.DynamicRole(t, "app", vaulttest.DynamicRole{DefaultTTL: 4 * time.Second, MaxTTL: 8 * time.Second})
		path := tg.d.Mount + "/creds/app"
		var ev eventCounts
		db := tg.openObserved(t, path, &ev)
		defer db.Close()
		db.SetConnMaxLifetime(0)
		var seen seenUsers
		maxLeases := 0
		load := testdb.StartLoad(8, func(ctx context.Context) error {
			u, err := whoamiAs(ctx, db, engine)
			if err == nil {
				seen.add(u)
			}
			return err
		})
		deadline := time.Now().Add(run)
		for time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
			maxLeases = max(maxLeases, len(leaseList(t, srv, path)))
		}
		failures := load.Stop()
		v, _ := renewals.LoadOrStore(tg.d.Mount, new(atomic.Int64))
		renewed := v.(*atomic.Int64).Load()
		names := seen.names()
		t.Logf("%s: %v of queries: %d ok, %d failed; %d renewals; %d users; at most %d leases at once; %v",
			engine, run, load.Queries(), len(failures), renewed, len(names), maxLeases, &ev)
		for i, f := range failures {
			if i < 5 {
				t.Errorf("query at %s failed: %v", f.Start.Format("15:04:05.000"), f.Err)
			}
		}
		if maxLeases > 3 { // the lease in use, the one it replaced until that ends, and a margin
			t.Errorf("%d leases at once: want the one in use and the one it replaced", maxLeases)
		}
		if renewed < 2 {
			t.Errorf("%d renewals, want several", renewed)
		}
		if len(names) < 2 {
			t.Errorf("users %v: want new credentials after max_ttl", names)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if got := leaseList(t, srv, path); len(got) != 0 {
			t.Errorf("after db.Close: %d leases, want 0", len(got))
		}
		left := 0
		for _, u := range names {
			left += tg.d.UserCount(t, u)
		}
		t.Logf("database users left after db.Close: %d", left)
		if left != 0 {
			t.Errorf("%d database users left after db.Close", left)
		}
	})
}

// TestDynamicRevokedBehindOurBack: after the lease is revoked by someone
// else (its user dropped), the next connect gets new credentials.
func TestDynamicRevokedBehindOurBack(t *testing.T) {
	srv := startSrcVault(t)
	forEachEngine(t, func(t *testing.T, engine string) {
		tg := newDBTarget(t, srv, engine)
		tg.d.DynamicRole(t, "app", vaulttest.DynamicRole{DefaultTTL: time.Minute, MaxTTL: 5 * time.Minute})
		path := tg.d.Mount + "/creds/app"
		db := tg.openDSN(t, path)
		defer db.Close()
		db.SetMaxIdleConns(0) // every query connects
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		u1, err := whoamiAs(ctx, db, engine)
		if err != nil {
			t.Fatal(err)
		}
		ls := leaseList(t, srv, path)
		if len(ls) != 1 {
			t.Fatalf("%d leases, want 1", len(ls))
		}
		if _, err := srv.Client.Logical().WriteWithContext(ctx, "sys/leases/revoke", map[string]any{"lease_id": path + "/" + ls[0]}); err != nil {
			t.Fatal(err)
		}
		if n := tg.d.UserCount(t, u1); n != 0 {
			t.Fatalf("the revoked lease's user %s is still there", u1)
		}
		u2, err := whoamiAs(ctx, db, engine)
		if err != nil {
			t.Fatalf("connect after the lease was revoked: %v", err)
		}
		if u2 == u1 {
			t.Fatalf("still user %s", u1)
		}
		t.Logf("user %s revoked; the next connect logged in as %s", u1, u2)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if n := tg.d.UserCount(t, u2); n != 0 {
			t.Errorf("after db.Close: user %s left", u2)
		}
	})
}

// TestKV2: a KV v2 secret; the password is changed in the database and a
// new version put: connects succeed again.
func TestKV2(t *testing.T) {
	srv := startSrcVault(t)
	forEachEngine(t, func(t *testing.T, engine string) {
		tdb := testdb.Open(t, engine)
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		secret := func(pw string) map[string]any {
			var m map[string]any
			if err := json.Unmarshal([]byte(tdb.SecretJSONFor(tdb.User, pw)), &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		name := "app-" + engine
		srv.PutKV(t, name, secret(tdb.Password))
		driver, dsn := "secretsmanager-postgres", "vault:secret/data/"+name+"?sslmode=disable"
		if engine == testdb.EngineMariaDB {
			driver, dsn = "secretsmanager-mysql", "vault:secret/data/"+name
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.SetMaxIdleConns(0)
		if u, err := whoamiAs(ctx, db, engine); err != nil || u != tdb.User {
			t.Fatalf("first query: %q, %v", u, err)
		}
		if err := tdb.Login(ctx, tdb.User, "not-"+tdb.Password); err == nil {
			t.Fatal("the database accepted a wrong password: the test would prove nothing")
		}
		pw := testdb.RandomPassword()
		if err := tdb.SetPassword(ctx, tdb.User, pw); err != nil {
			t.Fatal(err)
		}
		if err := tdb.Login(ctx, tdb.User, tdb.Password); err == nil {
			t.Fatal("the old password still works")
		}
		newVersion := secret(pw)
		put := make(chan error, 1)
		go func() { // not t.Fatal: this is not the test's goroutine
			time.Sleep(300 * time.Millisecond)
			_, err := srv.Client.KVv2(vaulttest.KVMount).Put(ctx, name, newVersion)
			put <- err
		}()
		start := time.Now()
		u, err := whoamiAs(ctx, db, engine)
		if perr := <-put; perr != nil {
			t.Fatalf("writing the new version: %v", perr)
		}
		if err != nil || u != tdb.User {
			t.Fatalf("query after the password change: %q, %v", u, err)
		}
		t.Logf("the connect after the change took %v", time.Since(start))
	})
}

// TestErrors: 403, an unknown role and an unreachable server give
// classified errors that name the path or the address and no token.
func TestErrors(t *testing.T) {
	srv := startSrcVault(t)
	tg := newDBTarget(t, srv, testdb.EnginePostgres)
	tg.d.DynamicRole(t, "app", vaulttest.DynamicRole{DefaultTTL: time.Minute})
	ctx := t.Context()
	tok, err := srv.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"default"}, TTL: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	weak := tok.Auth.ClientToken
	var outputs []string
	ping := func(t *testing.T, path string) error { // t: the subtest that pings
		t.Helper()
		db := tg.openDSN(t, path)
		defer db.Close()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := db.PingContext(pctx)
		if err == nil {
			t.Fatalf("ping %s: no error", path)
		}
		outputs = append(outputs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		return err
	}

	t.Run("permission denied", func(t *testing.T) {
		t.Setenv("VAULT_TOKEN", weak)
		path := tg.d.Mount + "/creds/app"
		err := ping(t, path)
		t.Logf("%v", err)
		if !errors.Is(err, ErrPermissionDenied) || !strings.Contains(err.Error(), path) {
			t.Errorf("%v: want ErrPermissionDenied naming %s", err, path)
		}
	})
	t.Run("unknown role", func(t *testing.T) {
		err := ping(t, tg.d.Mount+"/creds/nosuchrole")
		t.Logf("%v", err)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "nosuchrole") {
			t.Errorf("%v: want ErrNotFound naming the role", err)
		}
	})
	t.Run("nothing at a KV path", func(t *testing.T) {
		err := ping(t, "secret/data/nothing-here")
		t.Logf("%v", err)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%v: want ErrNotFound", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		addr := "http://127.0.0.1:" + strconv.Itoa(srcFreePort(t))
		t.Setenv("VAULT_ADDR", addr)
		err := ping(t, tg.d.Mount+"/creds/app")
		t.Logf("%v", err)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), addr) {
			t.Errorf("%v: want ErrUnavailable naming %s", err, addr)
		}
	})
	s, err := New(tg.d.Mount + "/creds/app")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	outputs = append(outputs, fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s))
	for _, out := range outputs {
		for _, secret := range []string{srv.Token, weak} {
			if strings.Contains(out, secret) {
				t.Errorf("a token in %q", out)
			}
		}
	}
}

// TestVaultStopped: once credentials are read, connects keep working while
// Vault is down; Close returns promptly.
func TestVaultStopped(t *testing.T) {
	srv := startSrcVault(t)
	tdb := testdb.Postgres(t)
	var m map[string]any
	if err := json.Unmarshal([]byte(tdb.SecretJSON()), &m); err != nil {
		t.Fatal(err)
	}
	srv.PutKV(t, "stopped", m)
	db, err := sql.Open("secretsmanager-postgres", "vault:secret/data/stopped?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := whoamiAs(ctx, db, testdb.EnginePostgres); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	for i := range 20 {
		if _, err := whoamiAs(ctx, db, testdb.EnginePostgres); err != nil {
			t.Fatalf("connect %d with Vault stopped: %v", i, err)
		}
	}
	start := time.Now()
	if err := db.Close(); err != nil {
		t.Errorf("db.Close: %v", err)
	}
	if d := time.Since(start); d > 12*time.Second {
		t.Errorf("db.Close took %v with Vault down", d)
	}
}

// TestVaultSealed: a real sealed Vault (sys/seal) answers 503: a cached
// credential keeps serving new connects while background reads fail
// (stale_served), and a reader without one gets ErrUnavailable naming the
// server, with Vault's own "sealed" message.
func TestVaultSealed(t *testing.T) {
	srv := startSrcVault(t)
	tdb := testdb.Postgres(t)
	var m map[string]any
	if err := json.Unmarshal([]byte(tdb.SecretJSON()), &m); err != nil {
		t.Fatal(err)
	}
	srv.PutKV(t, "sealed", m)
	var stale atomic.Int64
	c, err := secretsql.NewConnector("postgres", "vault:secret/data/sealed?sslmode=disable&ttl=1s",
		secretsql.WithCache(secretsql.NewCache()), secretsql.WithObserver(func(ev secretsql.Event) {
			if ev.Kind == secretsql.EventStaleServed {
				stale.Add(1)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxIdleConns(0) // every query logs in
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := whoamiAs(ctx, db, testdb.EnginePostgres); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client.Sys().SealWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := srv.Client.Sys().SealStatusWithContext(ctx); err != nil || !st.Sealed {
		t.Fatalf("seal status after sys/seal: %+v, %v", st, err)
	}
	end := time.Now().Add(3 * time.Second)
	n := 0
	for ; time.Now().Before(end); n++ {
		if _, err := whoamiAs(ctx, db, testdb.EnginePostgres); err != nil {
			t.Fatalf("connect %d with Vault sealed: %v", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if stale.Load() == 0 {
		t.Errorf("no stale_served event in 3 s with ttl=1s: the background reads did not run")
	}
	cold, err := sql.Open("secretsmanager-postgres", "vault:secret/data/sealed-cold?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Close()
	err = cold.PingContext(ctx)
	var ve *Error
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ve) || ve.Status != 503 || ve.Addr != srv.Addr ||
		!strings.Contains(err.Error(), "sealed") || strings.Contains(err.Error(), srv.Token) {
		t.Fatalf("a read with Vault sealed: %v", err)
	}
	t.Logf("Vault sealed: %d connects with the cached credential, %d stale_served; a cold read: %v", n, stale.Load(), err)
}

// TestVaultStoppedDynamic: dynamic credentials read before Vault stopped
// keep serving new connects; db.Close, unable to revoke, returns at once
// (connection refused) and the test drops the user Vault cannot.
func TestVaultStoppedDynamic(t *testing.T) {
	srv := startSrcVault(t)
	tg := newDBTarget(t, srv, testdb.EnginePostgres)
	tg.d.DynamicRole(t, "app", vaulttest.DynamicRole{DefaultTTL: time.Minute, MaxTTL: 5 * time.Minute})
	var ev eventCounts
	db := tg.openObserved(t, tg.d.Mount+"/creds/app", &ev)
	defer db.Close()
	db.SetMaxIdleConns(0)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	user, err := whoamiAs(ctx, db, tg.engine)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := tg.d.DB.Admin.ExecContext(context.Background(), `DROP ROLE IF EXISTS "`+user+`"`); err != nil {
			t.Errorf("dropping %s: %v", user, err)
		}
	})
	srv.Stop(t)
	for i := range 20 {
		u, err := whoamiAs(ctx, db, tg.engine)
		if err != nil || u != user {
			t.Fatalf("connect %d with Vault stopped: %q, %v", i, u, err)
		}
	}
	start := time.Now()
	err = db.Close()
	d := time.Since(start)
	t.Logf("db.Close with Vault stopped: %v after %v; %v", err, d, &ev)
	if d > 12*time.Second {
		t.Errorf("db.Close took %v with Vault down", d)
	}
}

// TestTokenFileDSN: token_file= reads the token from a file (Vault Agent's
// sink) rather than VAULT_TOKEN.
func TestTokenFileDSN(t *testing.T) {
	srv := startSrcVault(t)
	t.Setenv("VAULT_TOKEN", "")
	tg := newDBTarget(t, srv, testdb.EngineMariaDB)
	tg.d.DynamicRole(t, "app", vaulttest.DynamicRole{DefaultTTL: time.Minute})
	ctx := t.Context()
	tok, err := srv.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"default"}, TTL: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	file := t.TempDir() + "/token"
	if err := os.WriteFile(file, []byte(tok.Auth.ClientToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dsn := tg.dsn(tg.d.Mount+"/creds/app") + "&token_file=" + url.QueryEscape(file)
	ping := func() error {
		db, err := sql.Open(tg.driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return db.PingContext(pctx)
	}
	err = ping()
	if !errors.Is(err, ErrPermissionDenied) || strings.Contains(err.Error(), tok.Auth.ClientToken) {
		t.Fatalf("a token without the policy: %v", err)
	}
	if err := os.WriteFile(file, []byte(srv.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ping(); err != nil {
		t.Fatalf("with the root token in the file: %v", err)
	}
	if n := len(leaseList(t, srv, tg.d.Mount+"/creds/app")); n != 0 {
		t.Errorf("%d leases left", n)
	}
}
