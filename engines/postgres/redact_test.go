package postgres

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// TestHookErrorHoldsNoPassword (issue 19, finding 1): a connect through
// the Hook that fails — nothing listening, a real 28P01, a login pgconn
// gives up after the server asked for the password — returns pgx's own
// *pgconn.ConnectError, whose Config must not hold the secret's password,
// and no fmt form of the error, of any error it wraps or of their exported
// fields may show it. Every way in: pgx.ConnectConfig after BeforeConnect,
// a pgxpool configured by the Hook, and the secretsmanager-postgres driver
// (sql.DB on secretsql.NewConnector), which shares the mechanism.
func TestHookErrorHoldsNoPassword(t *testing.T) {
	db := testdb.Postgres(t)
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downPort := down.Addr().(*net.TCPAddr).Port
	down.Close()
	fake := newFakePG(t, "not the secret's")

	for _, tc := range []struct {
		name   string
		port   int
		params string // connection parameters besides host, port and dbname
		code   string // the *pgconn.PgError code the error must carry, if any
	}{
		{"refused", downPort, "sslmode=disable", ""},
		{"28P01_plaintext", db.Port, "sslmode=disable", "28P01"},
		{"28P01_tls", db.Port, "sslmode=require channel_binding=require", "28P01"},
		// pgconn refuses the fake server's cleartext request and returns at
		// once, with no further read or write.
		{"require_auth_refused", fake.port(), "sslmode=disable require_auth=scram-sha-256", ""},
	} {
		for _, via := range []string{"pgx.ConnectConfig", "pgxpool", "driver"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				pw := sentinelPassword()
				sm := smtest.NewServer()
				defer sm.Close()
				sm.CreateSecret("app/pg", fmt.Sprintf(`{"engine":"postgres","host":%q,"port":%d,"username":%q,"password":%q,"dbname":%q}`,
					db.Host, tc.port, db.User, pw, db.Database))
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				conn := fmt.Sprintf("host=%s port=%d dbname=%s %s", db.Host, tc.port, db.Database, tc.params)
				switch via {
				case "driver":
					err = driverConnect(ctx, sm, "app/pg?"+strings.ReplaceAll(tc.params, " ", "&"))
				default:
					hook, herr := NewHook("app/pg", secretsql.WithClient(sm.Client()))
					if herr != nil {
						t.Fatal(herr)
					}
					defer hook.Close()
					if via == "pgxpool" {
						err = poolConnect(ctx, hook, conn)
					} else {
						err = hookConnect(ctx, hook, conn)
					}
				}
				if err == nil {
					t.Fatal("connect succeeded")
				}
				var ce *pgconn.ConnectError
				if !errors.As(err, &ce) || ce.Config == nil {
					t.Fatalf("err = %v (%T): no *pgconn.ConnectError with a Config", err, err)
				}
				if ce.Config.Password == pw {
					t.Errorf("ConnectError.Config.Password is the secret's password")
				}
				if tc.code != "" {
					var pe *pgconn.PgError
					if !errors.As(err, &pe) || pe.Code != tc.code {
						t.Errorf("err = %v, want a *pgconn.PgError %s", err, tc.code)
					}
				}
				for _, out := range errorForms(err) {
					if strings.Contains(out, pw) {
						t.Errorf("an fmt form of the error shows the password: %s", strings.ReplaceAll(out, pw, "<PASSWORD>"))
					}
				}
			})
		}
	}
}

// driverConnect pings a sql.DB of the secretsmanager-postgres driver on
// the secret of dsn, with one login per connect.
func driverConnect(ctx context.Context, sm *smtest.Server, dsn string) error {
	c, err := secretsql.NewConnector("postgres", dsn, secretsql.WithClient(sm.Client()), secretsql.WithRetry(1, 0))
	if err != nil {
		return err
	}
	defer c.Close()
	db := sql.OpenDB(c)
	defer db.Close()
	return db.PingContext(ctx)
}

// hookConnect connects with pgx.ConnectConfig after the hook's
// BeforeConnect.
func hookConnect(ctx context.Context, hook *Hook, connString string) error {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return err
	}
	if err := hook.BeforeConnect(ctx, cfg); err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		conn.Close(ctx)
	}
	return err
}

// poolConnect pings a pgxpool the hook configured.
func poolConnect(ctx context.Context, hook *Hook, connString string) error {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return err
	}
	hook.Configure(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return pool.Ping(ctx)
}

// sentinelPassword returns a password easy to find in any output: a marker
// and 16 random letters.
func sentinelPassword() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 16)
	crand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return "Snt1" + string(b)
}

// errorForms returns %v %+v %#v %s %q of err, of every error it wraps, and
// %+v and %#v of every exported field of each (a caller may log
// errors.As's result and its fields).
func errorForms(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			out = append(out, fmt.Sprintf(verb, e))
		}
		out = append(out, e.Error())
		rv := reflect.ValueOf(e)
		for rv.Kind() == reflect.Pointer && !rv.IsNil() {
			rv = rv.Elem()
		}
		if rv.Kind() == reflect.Struct {
			for i := range rv.NumField() {
				if !rv.Type().Field(i).IsExported() {
					continue
				}
				f := rv.Field(i)
				for (f.Kind() == reflect.Pointer || f.Kind() == reflect.Interface) && !f.IsNil() {
					f = f.Elem()
				}
				out = append(out, fmt.Sprintf("%+v", f.Interface()), fmt.Sprintf("%#v", f.Interface()))
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if w := u.Unwrap(); w != nil {
				walk(w)
			}
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				if w != nil {
					walk(w)
				}
			}
		}
	}
	walk(err)
	return out
}

// TestConnHoldsNoPassword: pgconn needs the password only to
// authenticate, so a connection made through the Hook or the
// secretsmanager-postgres driver (over SCRAM, with and without TLS) keeps
// none in its configuration (pgx.Conn.Config, which is pgconn's too), and
// the configuration the hook was given has none either.
func TestConnHoldsNoPassword(t *testing.T) {
	db := testdb.Postgres(t)
	sm := smtest.NewServer()
	defer sm.Close()
	sm.CreateSecret("app/pg", db.SecretJSON())
	hook, err := NewHook("app/pg", secretsql.WithClient(sm.Client()))
	if err != nil {
		t.Fatal(err)
	}
	defer hook.Close()
	for _, params := range []string{"sslmode=disable", "sslmode=require channel_binding=require"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The hook.
		cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s %s", db.Host, db.Port, db.Database, params))
		if err != nil {
			t.Fatal(err)
		}
		if err := hook.BeforeConnect(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("%s: %v", params, err)
		}
		checkConn(t, "hook, "+params, conn, db)
		if cfg.Password == db.Password {
			t.Errorf("hook, %s: the configuration BeforeConnect was given holds the password", params)
		}
		conn.Close(ctx)

		// The driver: the connection under sql.Conn.
		c, err := secretsql.NewConnector("postgres", "app/pg?"+strings.ReplaceAll(params, " ", "&"), secretsql.WithClient(sm.Client()))
		if err != nil {
			t.Fatal(err)
		}
		sdb := sql.OpenDB(c)
		sc, err := sdb.Conn(ctx)
		if err != nil {
			t.Fatalf("driver, %s: %v", params, err)
		}
		if err := sc.Raw(func(dc any) error {
			checkConn(t, "driver, "+params, dc.(*stdlib.Conn).Conn(), db)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sc.Close()
		sdb.Close()
		c.Close()
	}
}

// checkConn fails the test if conn is not logged in as db's user or keeps
// its password.
func checkConn(t *testing.T, what string, conn *pgx.Conn, db *testdb.DB) {
	t.Helper()
	var user string
	if err := conn.QueryRow(context.Background(), "select current_user").Scan(&user); err != nil || user != db.User {
		t.Errorf("%s: current_user = %q, %v", what, user, err)
	}
	if conn.Config().Password == db.Password {
		t.Errorf("%s: pgx.Conn.Config holds the password after the login", what)
	}
}
