package vault_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/secretsql/secretsql"
	_ "github.com/secretsql/secretsql/engines/mysql"
	_ "github.com/secretsql/secretsql/engines/postgres"
	"github.com/secretsql/secretsql/internal/testdb"
	_ "github.com/secretsql/secretsql/vault"
	"github.com/secretsql/secretsql/vault/vaulttest"
)

// The drills: query load through database/sql while Vault hands out,
// renews, rotates and stops. Each runs for drillDuration
// (SECRETSQL_VAULT_RUN, e.g. 60s, for a long run) and fails on any failed
// query.

const drillWorkers = 50

// drillDuration is how long a drill runs: SECRETSQL_VAULT_RUN when it is
// longer than def (a drill needs def to see what it checks), else def.
func drillDuration(t *testing.T, def time.Duration) time.Duration {
	t.Helper()
	s := os.Getenv("SECRETSQL_VAULT_RUN")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("SECRETSQL_VAULT_RUN=%q: want a positive duration such as 60s", s)
	}
	return max(d, def)
}

// drillEvents counts what a drill's connector reports.
type drillEvents struct {
	mu       sync.Mutex
	versions []string       // distinct versions fetched, in order
	seen     map[string]int // version -> fetches
	fetches  int
	failed   int // failed reads
	rejected int // logins the database rejected
	stale    int // background reads that failed while the cached value was served
}

func (e *drillEvents) observe(ev secretsql.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev.Kind {
	case secretsql.EventFetch:
		e.fetches++
		if e.seen == nil {
			e.seen = map[string]int{}
		}
		if e.seen[ev.VersionID] == 0 {
			e.versions = append(e.versions, ev.VersionID)
		}
		e.seen[ev.VersionID]++
	case secretsql.EventFetchFailed:
		e.failed++
	case secretsql.EventAuthFailed:
		e.rejected++
	case secretsql.EventStaleServed:
		e.stale++
	}
}

// counts returns the distinct versions, the reads that returned a version
// already seen (lease renewals, for a dynamic role), and the rest.
func (e *drillEvents) counts() (versions []string, repeats, fetches, failed, rejected, stale int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.versions...), e.fetches - len(e.versions), e.fetches, e.failed, e.rejected, e.stale
}

// drillEngines runs f for each engine of the test bed, the engines at
// once (their servers are separate).
func drillEngines(t *testing.T, f func(t *testing.T, engine string)) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			f(t, engine)
		})
	}
}

// drillEnv points the Vault client of the drills at srv, with its root
// token unless the DSN logs in (t.Setenv: call it before parallel
// subtests start).
func drillEnv(t *testing.T, srv *vaulttest.Server, rootToken bool) {
	t.Helper()
	t.Setenv("VAULT_ADDR", srv.Addr)
	token := ""
	if rootToken {
		token = srv.Token
	}
	t.Setenv("VAULT_TOKEN", token)
	t.Setenv("VAULT_NAMESPACE", "")
	t.Setenv("VAULT_MAX_RETRIES", "")
}

// drillDB opens a pool of 20 connections (each at most maxLife old) for
// the vault: DSN path on tdb's database, with a cache of its own.
func drillDB(t *testing.T, srv *vaulttest.Server, tdb *testdb.DB, path string, maxLife time.Duration, extra string, ev *drillEvents) (*sql.DB, *secretsql.Cache) {
	t.Helper()
	engine := "postgres"
	if tdb.Engine == testdb.EngineMariaDB {
		engine = "mysql"
	}
	dsn := "vault:" + path + "?host=" + tdb.Host + "&port=" + strconv.Itoa(tdb.Port) + "&dbname=" + tdb.Database + extra
	cache := secretsql.NewCache()
	c, err := secretsql.NewConnector(engine, dsn, secretsql.WithCache(cache), secretsql.WithObserver(ev.observe))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	db.SetConnMaxLifetime(maxLife)
	return db, cache
}

// runLoad runs drillWorkers workers of SELECT 1 on db for d (calling
// during, if not nil, meanwhile) and fails the test on any failed query.
func runLoad(t *testing.T, db *sql.DB, d time.Duration, during func()) (queries int64, failed int) {
	t.Helper()
	load := testdb.StartLoad(drillWorkers, testdb.SelectOne(db))
	end := time.Now().Add(d)
	if during != nil {
		during()
	}
	time.Sleep(time.Until(end))
	failures := load.Stop()
	for i, f := range failures {
		if i == 5 {
			t.Errorf("… and %d more failed queries", len(failures)-5)
			break
		}
		t.Errorf("query started at %s failed: %v", f.Start.Format("15:04:05.000"), f.Err)
	}
	return load.Queries(), len(failures)
}

// rejectsWrongPassword proves the test bed checks passwords for user.
func rejectsWrongPassword(t *testing.T, tdb *testdb.DB, user string) {
	t.Helper()
	if err := tdb.Login(t.Context(), user, "not-the-password"); err == nil {
		t.Fatalf("%s logged in as %s with a wrong password: the test bed does not check passwords", tdb.Engine, user)
	}
}

func randomName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// dynamicUsers counts the database users of a dynamic role named role
// (Vault's user names hold the role name between dashes).
func dynamicUsers(t *testing.T, tdb *testdb.DB, role string) int {
	t.Helper()
	q := "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1"
	if tdb.Engine == testdb.EngineMariaDB {
		q = "SELECT count(*) FROM mysql.user WHERE User LIKE ?"
	}
	var n int
	if err := tdb.Admin.QueryRowContext(t.Context(), q, "v-%-"+role+"-%").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDrillDynamic: a dynamic role with default_ttl 5 s and max_ttl 20 s
// under 50 workers: no failed query; one lease at a time (renewed, and
// replaced as max_ttl nears), not one per connect; after db.Close every
// lease is revoked and no user of the role is left in the database.
func TestDrillDynamic(t *testing.T) {
	srv := vaulttest.Start(t)
	drillEnv(t, srv, true)
	drillEngines(t, func(t *testing.T, engine string) {
		d := drillDuration(t, 8*time.Second)
		vdb := srv.Database(t, engine)
		role := randomName("dr")
		vdb.DynamicRole(t, role, vaulttest.DynamicRole{DefaultTTL: 5 * time.Second, MaxTTL: 20 * time.Second})
		var ev drillEvents
		db, cache := drillDB(t, srv, vdb.DB, vdb.Mount+"/creds/"+role, 2*time.Second, "", &ev)
		defer cache.Close()
		queries, nfailed := runLoad(t, db, d, nil)
		during := dynamicUsers(t, vdb.DB, role)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		leases, renewals, fetches, failed, rejected, _ := ev.counts()
		left := dynamicUsers(t, vdb.DB, role)
		t.Logf("%s, %v, %d workers: %d queries, %d failed; %d lease(s), %d renewal(s), %d read(s), %d failed read(s), %d rejected login(s); users of the role: %d before db.Close, %d after",
			engine, d, drillWorkers, queries, nfailed, len(leases), renewals, fetches, failed, rejected, during, left)
		if len(leases) == 0 {
			t.Fatal("no lease was read")
		}
		if renewals == 0 {
			t.Errorf("the lease was never renewed in %v with default_ttl 5 s", d)
		}
		if maxLeases := int(d/(10*time.Second)) + 2; len(leases) > maxLeases {
			t.Errorf("%d leases in %v, want at most %d (one at a time, replaced as max_ttl nears)", len(leases), d, maxLeases)
		}
		if left != 0 {
			t.Errorf("%d user(s) of the role left in the database after db.Close", left)
		}
		for _, id := range leases {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			_, err := srv.Client.Sys().LookupWithContext(ctx, id)
			cancel()
			if err == nil {
				t.Errorf("lease %s still exists after db.Close", id)
			}
		}
	})
}

// TestDrillStatic: a static role whose password Vault rotates every 5 s,
// under 50 workers on a pool that logs in again and again: no failed
// query; rejected logins (Vault changes the password in the database
// before it stores it) are retried inside the connect.
func TestDrillStatic(t *testing.T) {
	srv := vaulttest.Start(t)
	drillEnv(t, srv, true)
	drillEngines(t, func(t *testing.T, engine string) {
		d := drillDuration(t, 12*time.Second)
		vdb := srv.Database(t, engine)
		rejectsWrongPassword(t, vdb.DB, vdb.DB.User)
		role := randomName("st")
		vdb.StaticRole(t, role, vdb.DB.User, 5*time.Second)
		first := vdb.StaticCreds(t, role)
		var ev drillEvents
		db, cache := drillDB(t, srv, vdb.DB, vdb.Mount+"/static-creds/"+role, 250*time.Millisecond, "", &ev)
		defer cache.Close()
		defer db.Close()
		queries, nfailed := runLoad(t, db, d, nil)
		last := vdb.StaticCreds(t, role)
		versions, _, fetches, failed, rejected, _ := ev.counts()
		rotations := int((last.LastRotation.Sub(first.LastRotation) + 2500*time.Millisecond) / (5 * time.Second))
		t.Logf("%s, %v, %d workers: %d queries, %d failed; Vault rotated about %d time(s) (%s → %s); %d version(s), %d read(s), %d failed read(s), %d rejected login(s)",
			engine, d, drillWorkers, queries, nfailed, rotations, first.LastRotation.Format("15:04:05"), last.LastRotation.Format("15:04:05"), len(versions), fetches, failed, rejected)
		if !last.LastRotation.After(first.LastRotation) {
			t.Fatalf("Vault did not rotate the password during the drill")
		}
		if len(versions) < 2 {
			t.Errorf("%d version(s) read while Vault rotated the password: the rotation was not picked up", len(versions))
		}
	})
}

// TestDrillKV: a KV v2 secret, the database password changed first and
// the new version put 300 ms later, three times under 50 workers: no
// failed query.
func TestDrillKV(t *testing.T) {
	srv := vaulttest.Start(t)
	drillEnv(t, srv, true)
	drillEngines(t, func(t *testing.T, engine string) {
		tdb := testdb.Open(t, engine)
		rejectsWrongPassword(t, tdb, tdb.User)
		path := randomName("drill-kv-")
		put := func(password string) int {
			return srv.PutKV(t, path, map[string]any{"username": tdb.User, "password": password})
		}
		put(tdb.Password)
		var ev drillEvents
		db, cache := drillDB(t, srv, tdb, vaulttest.KVMount+"/data/"+path, 250*time.Millisecond, "", &ev)
		defer cache.Close()
		defer db.Close()
		const changes = 3
		queries, nfailed := runLoad(t, db, changes*2*time.Second+time.Second, func() {
			for range changes {
				time.Sleep(time.Second)
				pw := testdb.RandomPassword()
				if err := tdb.SetPassword(t.Context(), tdb.User, pw); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(300 * time.Millisecond)
				put(pw)
				time.Sleep(700 * time.Millisecond)
			}
		})
		versions, _, fetches, failed, rejected, _ := ev.counts()
		t.Logf("%s: %d password changes, %d workers: %d queries, %d failed; %d version(s), %d read(s), %d failed read(s), %d rejected login(s)",
			engine, changes, drillWorkers, queries, nfailed, len(versions), fetches, failed, rejected)
		if len(versions) != changes+1 {
			t.Errorf("%d versions read, want %d", len(versions), changes+1)
		}
	})
}

// TestDrillVaultDown: Vault stops for 10 s while a usable credential is
// cached: no failed query under 50 workers; the background reads fail and
// the cached credential keeps serving (stale_served events).
func TestDrillVaultDown(t *testing.T) {
	srv := vaulttest.Start(t)
	drillEnv(t, srv, true)
	tdb := testdb.Postgres(t)
	path := randomName("drill-down-")
	srv.PutKV(t, path, map[string]any{"username": tdb.User, "password": tdb.Password})
	var ev drillEvents
	db, cache := drillDB(t, srv, tdb, vaulttest.KVMount+"/data/"+path, 250*time.Millisecond, "&ttl=1s", &ev)
	defer cache.Close()
	defer db.Close()
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	const down = 10 * time.Second
	queries, nfailed := runLoad(t, db, down+time.Second, func() {
		time.Sleep(500 * time.Millisecond)
		srv.Stop(t)
	})
	_, _, fetches, failed, rejected, stale := ev.counts()
	t.Logf("Vault stopped for %v, %d workers: %d queries, %d failed; %d read(s), %d failed read(s), %d stale-served, %d rejected login(s)",
		down, drillWorkers, queries, nfailed, fetches, failed, stale, rejected)
	if failed == 0 || stale == 0 {
		t.Errorf("%d failed reads and %d stale-served events while Vault was down: the refresh did not run", failed, stale)
	}
}

// TestDrillAppRole: the dynamic role of TestDrillDynamic read with an
// AppRole login whose tokens live 3 s, at most 8 s, under 50 workers: when
// the first token ends (8 s), Vault revokes its lease, dropping its user,
// and the source reads a new one with a new login (TestAppRoleRenewal
// counts the logins and renewals themselves); no query fails, and nothing
// is left after db.Close.
func TestDrillAppRole(t *testing.T) {
	srv := vaulttest.Start(t)
	drillEnv(t, srv, false) // the DSN logs in with AppRole
	d := drillDuration(t, 10*time.Second)
	vdb := srv.Postgres(t)
	role := randomName("ar")
	vdb.DynamicRole(t, role, vaulttest.DynamicRole{DefaultTTL: 5 * time.Second, MaxTTL: 20 * time.Second})
	srv.Policy(t, role, `path "`+vdb.Mount+`/creds/`+role+`" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }`)
	ar := srv.AppRole(t, role, vaulttest.AppRoleConfig{TokenTTL: 3 * time.Second, TokenMaxTTL: 8 * time.Second, Policies: []string{role}})
	secretIDFile := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(secretIDFile, []byte(ar.SecretID(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := "&auth=approle&auth_mount=" + url.QueryEscape(ar.Mount) + "&role=" + url.QueryEscape(ar.RoleID) +
		"&secret_id_file=" + url.QueryEscape(secretIDFile)
	var ev drillEvents
	db, cache := drillDB(t, srv, vdb.DB, vdb.Mount+"/creds/"+role, 2*time.Second, extra, &ev)
	defer cache.Close()
	queries, nfailed := runLoad(t, db, d, nil)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	leases, renewals, fetches, failed, rejected, _ := ev.counts()
	left := dynamicUsers(t, vdb.DB, role)
	t.Logf("AppRole tokens of 3 s (max 8 s), %v, %d workers: %d queries, %d failed; %d lease(s), %d renewal(s), %d read(s), %d failed read(s), %d rejected login(s); %d user(s) left after db.Close",
		d, drillWorkers, queries, nfailed, len(leases), renewals, fetches, failed, rejected, left)
	if len(leases) < 2 {
		t.Errorf("%d lease(s) in %v: the lease of the first login token (max 8 s) was never replaced", len(leases), d)
	}
	if left != 0 {
		t.Errorf("%d user(s) of the role left in the database after db.Close", left)
	}
}
