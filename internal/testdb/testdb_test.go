package testdb_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/secretsql/secretsql/internal/testdb"
)

// requireAuthError fails unless err is the engine's "wrong password" error.
func requireAuthError(t *testing.T, engine string, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("login succeeded, want an authentication failure")
	}
	switch engine {
	case testdb.EnginePostgres:
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "28P01" {
			t.Fatalf("got %v, want a *pgconn.PgError with code 28P01", err)
		}
	case testdb.EngineMariaDB:
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1045 {
			t.Fatalf("got %v, want a *mysql.MySQLError number 1045", err)
		}
	default:
		t.Fatalf("unknown engine %q", engine)
	}
}

func forEachEngine(t *testing.T, f func(t *testing.T, engine string)) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			f(t, engine)
		})
	}
}

func TestRandomPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p := testdb.RandomPassword()
		for _, c := range testdb.HostileChars {
			if !strings.ContainsRune(p, c) {
				t.Fatalf("password %q lacks %q", p, c)
			}
		}
		if len(p) != len(testdb.HostileChars)+20 {
			t.Fatalf("password %q has length %d", p, len(p))
		}
		if seen[p] {
			t.Fatalf("password %q generated twice", p)
		}
		seen[p] = true
	}
}

func TestLogin(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine)
		ctx := t.Context()
		if db.Engine != engine || db.Host != testdb.Host || db.Port == 0 || db.Database == "" || db.User == "" {
			t.Fatalf("incomplete DB: %+v", db)
		}
		if err := db.Login(ctx, db.User, db.Password); err != nil {
			t.Fatalf("login with the right password: %v", err)
		}
		requireAuthError(t, engine, db.Login(ctx, db.User, db.Password+"x"))
		requireAuthError(t, engine, db.Login(ctx, db.User, ""))
		if err := db.Admin.PingContext(ctx); err != nil {
			t.Fatalf("admin ping: %v", err)
		}
	})
}

func TestSecretJSON(t *testing.T) {
	db := testdb.Postgres(t)
	var s map[string]any
	if err := json.Unmarshal([]byte(db.SecretJSON()), &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"engine": "postgres", "host": testdb.Host, "port": float64(testdb.PostgresPort),
		"username": db.User, "password": db.Password, "dbname": db.Database,
	}
	if len(s) != len(want) {
		t.Fatalf("secret %v, want %v", s, want)
	}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("secret[%q] = %v, want %v", k, s[k], v)
		}
	}
	var a testdb.Secret
	if err := json.Unmarshal([]byte(db.AdminSecretJSON()), &a); err != nil {
		t.Fatal(err)
	}
	if a.Username != "postgres" || a.Host != testdb.Host || a.DBName != db.Database {
		t.Errorf("admin secret %+v", a)
	}
}

func TestSetPassword(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine)
		ctx := t.Context()
		old := db.Password
		for _, pw := range []string{
			testdb.RandomPassword(),
			testdb.HostileChars,         // nothing but hostile characters
			`\'; DROP DATABASE x; -- \`, // escapes that end a naive literal
			`x\`,                        // trailing backslash
			"' OR '1'='1",               // classic injection
			"ünïcødé 密码 " + testdb.HostileChars, // multi-byte
		} {
			if err := db.SetPassword(ctx, db.User, pw); err != nil {
				t.Fatalf("SetPassword(%q): %v", pw, err)
			}
			if err := db.Login(ctx, db.User, pw); err != nil {
				t.Fatalf("login with the new password %q: %v", pw, err)
			}
			requireAuthError(t, engine, db.Login(ctx, db.User, old))
			old = pw
		}
	})
}

func TestSetPasswordRefusesOtherAccounts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine)
		for _, u := range []string{"postgres", "root", db.User + "_other"} {
			if err := db.SetPassword(t.Context(), u, "x"); err == nil {
				t.Errorf("SetPassword(%q) succeeded on a user the test did not create", u)
			}
		}
	})
}

// createTable checks that user has privileges on the test database by
// creating and filling a table as that user.
func createTable(t *testing.T, db *testdb.DB, user, password, table string) {
	t.Helper()
	conn := openAs(t, db, user, password)
	if _, err := conn.ExecContext(t.Context(), "CREATE TABLE "+table+" (id int)"); err != nil {
		t.Fatalf("CREATE TABLE as %s: %v", user, err)
	}
	if _, err := conn.ExecContext(t.Context(), "INSERT INTO "+table+" VALUES (1)"); err != nil {
		t.Fatalf("INSERT as %s: %v", user, err)
	}
}

func TestNewUser(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine)
		ctx := t.Context()
		pw := testdb.RandomPassword()
		user, err := db.NewUser(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		if user == db.User {
			t.Fatalf("NewUser returned the existing user %q", user)
		}
		if err := db.Login(ctx, user, pw); err != nil {
			t.Fatalf("login as the new user: %v", err)
		}
		requireAuthError(t, engine, db.Login(ctx, user, db.Password))
		createTable(t, db, db.User, db.Password, "t1")
		createTable(t, db, user, pw, "t2")

		// The users stay independent: changing one password leaves the
		// other alone.
		pw2 := testdb.RandomPassword()
		if err := db.SetPassword(ctx, user, pw2); err != nil {
			t.Fatal(err)
		}
		if err := db.Login(ctx, db.User, db.Password); err != nil {
			t.Fatalf("first user after the second changed password: %v", err)
		}
		if err := db.Login(ctx, user, pw2); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCloneUser(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine)
		ctx := t.Context()
		clone := db.User + "_clone"
		pw1, pw2 := testdb.RandomPassword(), testdb.RandomPassword()
		if err := db.CloneUser(ctx, db.User, clone, pw1); err != nil {
			t.Fatal(err)
		}
		if err := db.Login(ctx, clone, pw1); err != nil {
			t.Fatal(err)
		}
		createTable(t, db, clone, pw1, "t_clone")
		// A second call only changes the password.
		if err := db.CloneUser(ctx, db.User, clone, pw2); err != nil {
			t.Fatal(err)
		}
		if err := db.Login(ctx, clone, pw2); err != nil {
			t.Fatal(err)
		}
		requireAuthError(t, engine, db.Login(ctx, clone, pw1))
		if err := db.CloneUser(ctx, "nobody_"+db.User, clone+"2", pw1); err == nil {
			t.Error("CloneUser from a foreign user succeeded")
		}
		admin := map[string]string{testdb.EnginePostgres: "postgres", testdb.EngineMariaDB: "root"}[engine]
		if err := db.CloneUser(ctx, db.User, admin, pw1); err == nil {
			t.Errorf("CloneUser onto the existing account %q succeeded", admin)
		}
		if got := db.Users(); len(got) != 2 || got[0] != db.User || got[1] != clone {
			t.Errorf("Users() = %v, want [%s %s]", got, db.User, clone)
		}
	})
}

func TestCleanup(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		outer := t
		var (
			inner *testdb.DB
			users []string
			held  *sql.Conn
		)
		t.Run("create", func(t *testing.T) {
			inner = testdb.Open(t, engine)
			ctx := t.Context()
			if _, err := inner.NewUser(ctx, testdb.RandomPassword()); err != nil {
				t.Fatal(err)
			}
			if err := inner.CloneUser(ctx, inner.User, inner.User+"_clone", testdb.RandomPassword()); err != nil {
				t.Fatal(err)
			}
			users = inner.Users()
			for _, name := range users {
				if ok, err := inner.UserExists(ctx, name); err != nil || !ok {
					t.Fatalf("UserExists(%q) = %v, %v during the test", name, ok, err)
				}
			}
			if ok, err := inner.DatabaseExists(ctx, inner.Database); err != nil || !ok {
				t.Fatalf("DatabaseExists = %v, %v during the test", ok, err)
			}
			// A session left open must not keep the database or user alive.
			pool := openAs(outer, inner, inner.User, inner.Password)
			c, err := pool.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			held = c
		})
		if t.Failed() {
			return
		}
		defer held.Close()
		if len(users) != 3 {
			t.Fatalf("users = %v, want 3", users)
		}
		// The catalog queries run on the package's server pool, which
		// outlives the inner test.
		ctx := t.Context()
		probe := testdb.Open(t, engine)
		if ok, err := probe.DatabaseExists(ctx, inner.Database); err != nil || ok {
			t.Errorf("database %s still exists (%v, %v)", inner.Database, ok, err)
		}
		for _, name := range users {
			if ok, err := probe.UserExists(ctx, name); err != nil || ok {
				t.Errorf("user %s still exists (%v, %v)", name, ok, err)
			}
		}
		if err := held.PingContext(ctx); err == nil {
			t.Error("the session left open by the inner test is still alive")
		}
		if err := inner.Admin.PingContext(ctx); err == nil {
			t.Error("Admin is still open after cleanup")
		}
	})
}

func TestRequireUnknownEngine(t *testing.T) {
	ft := &fakeT{TB: t}
	testdb.Require(ft, "db2")
	if !ft.fatal {
		t.Error("Require accepted an unknown engine")
	}
}

// fakeT records Fatal and Skip instead of stopping the test.
type fakeT struct {
	testing.TB
	fatal, skipped bool
	msg            string
}

func (f *fakeT) Helper()                        {}
func (f *fakeT) Fatal(args ...any)              { f.fatal = true; f.msg = fmt.Sprint(args...) }
func (f *fakeT) Fatalf(format string, a ...any) { f.fatal = true; f.msg = fmt.Sprintf(format, a...) }
func (f *fakeT) Skip(args ...any)               { f.skipped = true; f.msg = fmt.Sprint(args...) }

// openAs returns a pool connected to db's database as user; it is closed
// when t ends.
func openAs(t *testing.T, db *testdb.DB, user, password string) *sql.DB {
	t.Helper()
	var pool *sql.DB
	switch db.Engine {
	case testdb.EnginePostgres:
		cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d sslmode=disable", db.Host, db.Port))
		if err != nil {
			t.Fatal(err)
		}
		cfg.User, cfg.Password, cfg.Database = user, password, db.Database
		pool = stdlib.OpenDB(*cfg)
	case testdb.EngineMariaDB:
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(db.Host, strconv.Itoa(db.Port))
		cfg.User, cfg.Passwd, cfg.DBName = user, password, db.Database
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		pool = sql.OpenDB(c)
	default:
		t.Fatalf("unknown engine %q", db.Engine)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}
