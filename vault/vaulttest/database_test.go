package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/secretsql/secretsql/internal/testdb"
)

// status is the HTTP status of a Vault API error, or 0.
func status(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// authFailed reports whether err is the engine's wrong-password error:
// SQLSTATE 28P01 on PostgreSQL, error 1045 on MariaDB.
func authFailed(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "28P01"
	}
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1045
}

// validUntil is rolvaliduntil of a PostgreSQL role.
func validUntil(t *testing.T, d *Database, user string) time.Time {
	t.Helper()
	var v time.Time
	if err := d.DB.Admin.QueryRowContext(t.Context(), "SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1", user).Scan(&v); err != nil {
		t.Fatalf("rolvaliduntil of %s: %v", user, err)
	}
	return v
}

// validUntilMargin is what Vault adds to a lease's expiry for PostgreSQL's
// VALID UNTIL, at creation and at each renewal, "to ensure the database
// credential does not expire before the lease" (builtin/logical/database,
// path_creds_create.go and secret_creds.go of v1.14.1).
const validUntilMargin = 5 * time.Second

// near reports whether a and b are at most tol apart.
func near(a, b time.Time, tol time.Duration) bool { return a.Sub(b).Abs() <= tol }

// TestDynamicCreds, on PostgreSQL and MariaDB: a dynamic credential is a new
// user that must log in with its password (a wrong one is refused first);
// renewing its lease works and is capped at max_ttl (on PostgreSQL, VALID
// UNTIL follows); revoking the lease drops the user; a revoked lease cannot
// be renewed (400).
func TestDynamicCreds(t *testing.T) {
	s := Start(t)
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			const defaultTTL, maxTTL = 10 * time.Second, 30 * time.Second
			d := s.Database(t, engine)
			d.DynamicRole(t, "app", DynamicRole{DefaultTTL: defaultTTL, MaxTTL: maxTTL})
			issued := time.Now()
			c := d.Creds(t, "app")
			t.Logf("%v", c)
			if c.LeaseDuration != defaultTTL || !c.Renewable {
				t.Errorf("lease %v renewable=%v, want %v renewable", c.LeaseDuration, c.Renewable, defaultTTL)
			}
			if n := d.UserCount(t, c.Username); n != 1 {
				t.Fatalf("%d accounts %s, want 1", n, c.Username)
			}
			if err := d.DB.Login(t.Context(), c.Username, c.Password+"x"); !authFailed(err) {
				t.Fatalf("login with a wrong password: %v, want the engine's authentication failure", err)
			}
			if err := d.DB.Login(t.Context(), c.Username, c.Password); err != nil {
				t.Fatalf("login with the dynamic credential: %v", err)
			}
			if engine == testdb.EnginePostgres {
				if v, want := validUntil(t, d, c.Username), issued.Add(defaultTTL+validUntilMargin); !near(v, want, 2*time.Second) {
					t.Errorf("VALID UNTIL %v, want about issue + %v + %v (%v)", v, defaultTTL, validUntilMargin, want)
				}
			}

			// Renew within max_ttl: the lease gets the increment.
			sec, err := s.Client.Sys().RenewWithContext(t.Context(), c.LeaseID, 20)
			if err != nil {
				t.Fatalf("renew: %v", err)
			}
			if got := time.Duration(sec.LeaseDuration) * time.Second; got != 20*time.Second {
				t.Errorf("renewed for 20 s: lease %v", got)
			}
			if engine == testdb.EnginePostgres {
				if v, want := validUntil(t, d, c.Username), time.Now().Add(20*time.Second+validUntilMargin); !near(v, want, 2*time.Second) {
					t.Errorf("VALID UNTIL %v after renewing for 20 s, want about now + 20 s + %v (%v)", v, validUntilMargin, want)
				}
			}
			// Renew past max_ttl: capped at issue + max_ttl, with a warning.
			sec, err = s.Client.Sys().RenewWithContext(t.Context(), c.LeaseID, 3600)
			if err != nil {
				t.Fatalf("renew: %v", err)
			}
			got := time.Duration(sec.LeaseDuration) * time.Second
			left := maxTTL - time.Since(issued)
			if got > maxTTL || got < left-2*time.Second || got > left+time.Second {
				t.Errorf("renewed for an hour: lease %v, want the %v left of max_ttl", got, left.Round(time.Second))
			}
			if len(sec.Warnings) == 0 {
				t.Errorf("capped renewal without a warning")
			}
			t.Logf("renewal of 3600 s capped at %v (warning %q)", got, sec.Warnings)
			if engine == testdb.EnginePostgres {
				if v, want := validUntil(t, d, c.Username), issued.Add(maxTTL+validUntilMargin); !near(v, want, 2*time.Second) {
					t.Errorf("VALID UNTIL %v after a capped renewal, want about issue + max_ttl + %v (%v)", v, validUntilMargin, want)
				}
			}

			// Revoke: the user is dropped.
			if err := s.Client.Sys().RevokeWithContext(t.Context(), c.LeaseID); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if n := d.UserCount(t, c.Username); n != 0 {
				t.Errorf("%d accounts %s after revocation, want 0", n, c.Username)
			}
			if err := d.DB.Login(t.Context(), c.Username, c.Password); err == nil {
				t.Errorf("a revoked credential still logs in")
			}
			_, err = s.Client.Sys().RenewWithContext(t.Context(), c.LeaseID, 10)
			if status(err) != http.StatusBadRequest {
				t.Errorf("renewing a revoked lease: %v, want 400", err)
			}
		})
	}
}

// TestLeaseExpiry: when a lease reaches max_ttl Vault revokes it and drops
// the user, without any client.
func TestLeaseExpiry(t *testing.T) {
	s := Start(t)
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			d := s.Database(t, engine)
			d.DynamicRole(t, "short", DynamicRole{DefaultTTL: 2 * time.Second, MaxTTL: 2 * time.Second})
			c := d.Creds(t, "short")
			issued := time.Now()
			if n := d.UserCount(t, c.Username); n != 1 {
				t.Fatalf("%d accounts %s, want 1", n, c.Username)
			}
			deadline := time.Now().Add(15 * time.Second)
			for d.UserCount(t, c.Username) != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("user %s still there %v after issue (lease 2 s)", c.Username, time.Since(issued).Round(time.Second))
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Logf("%s: user dropped %v after issue (lease 2 s)", engine, time.Since(issued).Round(100*time.Millisecond))
		})
	}
}

// TestStaticRole, on PostgreSQL and MariaDB: Vault takes over an existing
// user (its first password stops working), then rotates its password every
// 5 s; after the next rotation the new password logs in and the old one is
// refused.
func TestStaticRole(t *testing.T) {
	s := Start(t)
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			const period = 5 * time.Second
			d := s.Database(t, engine)
			user, initial := d.DB.User, d.DB.Password
			d.StaticRole(t, "static", user, period)
			c1 := d.StaticCreds(t, "static")
			t.Logf("%v", c1)
			if c1.Username != user || c1.RotationPeriod != period {
				t.Fatalf("static creds %v, want user %s and period %v", c1, user, period)
			}
			if c1.Password == initial {
				t.Fatalf("Vault did not change the password when it took the user over")
			}
			if err := d.DB.Login(t.Context(), user, initial); !authFailed(err) {
				t.Errorf("login with the password from before Vault: %v, want the engine's authentication failure", err)
			}
			if err := d.DB.Login(t.Context(), user, c1.Password); err != nil {
				t.Fatalf("login with the static credential: %v", err)
			}

			// Wait for the next rotation (the queue ticks every 5 s).
			start := time.Now()
			deadline := start.Add(3 * period)
			c2 := c1
			for c2.LastRotation.Equal(c1.LastRotation) {
				if time.Now().After(deadline) {
					t.Fatalf("no rotation within %v (last %v)", 3*period, c1.LastRotation)
				}
				time.Sleep(250 * time.Millisecond)
				c2 = d.StaticCreds(t, "static")
			}
			t.Logf("rotated %v after the first read, %v after the previous rotation",
				time.Since(start).Round(100*time.Millisecond), c2.LastRotation.Sub(c1.LastRotation).Round(100*time.Millisecond))
			// The queue ticks every 5 s, so a rotation is due at most a tick
			// late (a few ms early, as last_vault_rotation is stamped).
			if gap := c2.LastRotation.Sub(c1.LastRotation); gap < period-time.Second || gap > 2*period+time.Second {
				t.Errorf("rotations %v apart, want %v to %v", gap, period-time.Second, 2*period+time.Second)
			}
			if c2.Password == c1.Password {
				t.Fatalf("the rotation kept the password")
			}
			if err := d.DB.Login(t.Context(), user, c2.Password); err != nil {
				t.Fatalf("login with the rotated password: %v", err)
			}
			if err := d.DB.Login(t.Context(), user, c1.Password); !authFailed(err) {
				t.Errorf("login with the password before the rotation: %v, want the engine's authentication failure", err)
			}
		})
	}
}

// TestKV: KV v2 versions: each put makes a version, old versions stay
// readable, a missing path is ErrSecretNotFound, and a deleted latest
// version reads as no data with a deletion time.
func TestKV(t *testing.T) {
	s := Start(t)
	kv := s.Client.KVv2(KVMount)
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	for i := 1; i <= 3; i++ {
		v := s.PutKV(t, "app/db", map[string]any{"username": "app", "password": fmt.Sprintf("pw-%d", i)})
		if v != i {
			t.Fatalf("put #%d made version %d", i, v)
		}
	}
	latest, err := kv.Get(ctx, "app/db")
	if err != nil {
		t.Fatal(err)
	}
	if latest.VersionMetadata.Version != 3 || latest.Data["password"] != "pw-3" {
		t.Errorf("latest: version %d password %v, want 3 pw-3", latest.VersionMetadata.Version, latest.Data["password"])
	}
	first, err := kv.GetVersion(ctx, "app/db", 1)
	if err != nil {
		t.Fatal(err)
	}
	if first.VersionMetadata.Version != 1 || first.Data["password"] != "pw-1" {
		t.Errorf("version 1: version %d password %v, want 1 pw-1", first.VersionMetadata.Version, first.Data["password"])
	}
	if _, err := kv.Get(ctx, "app/missing"); !errors.Is(err, api.ErrSecretNotFound) {
		t.Errorf("missing path: %v, want ErrSecretNotFound", err)
	}
	if err := kv.Delete(ctx, "app/db"); err != nil {
		t.Fatal(err)
	}
	deleted, err := kv.Get(ctx, "app/db")
	if err != nil {
		t.Fatalf("deleted latest version: %v", err)
	}
	if deleted.Data != nil || deleted.VersionMetadata == nil || deleted.VersionMetadata.DeletionTime.IsZero() {
		t.Errorf("deleted latest version: data %v metadata %+v, want no data and a deletion time", deleted.Data != nil, deleted.VersionMetadata)
	}
	if v, err := kv.GetVersion(ctx, "app/db", 2); err != nil || v.Data["password"] != "pw-2" {
		t.Errorf("version 2 after deleting version 3: %v", err)
	}
}

// TestCleanupDropsUsers: dynamic users whose leases are still running when
// their test ends are dropped (by Vault, when the harness unmounts the
// engine), and so is the harness's own server process.
func TestCleanupDropsUsers(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			probe := testdb.Open(t, engine) // a server-wide view that outlives the subtest
			var users []string
			t.Run("leases left running", func(t *testing.T) {
				s := Start(t)
				d := s.Database(t, engine)
				d.DynamicRole(t, "app", DynamicRole{DefaultTTL: time.Hour, MaxTTL: time.Hour})
				for range 3 {
					users = append(users, d.Creds(t, "app").Username)
				}
			})
			if len(users) != 3 {
				t.Fatalf("the subtest made %d users, want 3", len(users))
			}
			for _, u := range users {
				n, err := countUser(t, probe, u)
				if err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Errorf("user %s is still there (%d accounts) after its test ended", u, n)
				}
			}
		})
	}
}

// countUser counts the accounts called name on db's server.
func countUser(t *testing.T, db *testdb.DB, name string) (int, error) {
	d := &Database{DB: db}
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	return d.countUser(ctx, name)
}
