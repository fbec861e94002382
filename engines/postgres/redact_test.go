package postgres

import (
	"context"
	crand "crypto/rand"
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

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// TestHookErrorHoldsNoPassword (issue 19, finding 1): a connect through
// the Hook that fails — nothing listening, a real 28P01, a login pgconn
// gives up after the server asked for the password — returns pgx's own
// *pgconn.ConnectError, whose Config must not hold the secret's password,
// and no fmt form of the error, of any error it wraps or of their exported
// fields may show it. Both ways in: pgx.ConnectConfig after BeforeConnect,
// and a pgxpool configured by the Hook.
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
		name, conn string
		code       string // the *pgconn.PgError code the error must carry, if any
	}{
		{"refused", fmt.Sprintf("host=127.0.0.1 port=%d sslmode=disable", downPort), ""},
		{"28P01_plaintext", fmt.Sprintf("host=%s port=%d dbname=%s sslmode=disable", db.Host, db.Port, db.Database), "28P01"},
		{"28P01_tls", fmt.Sprintf("host=%s port=%d dbname=%s sslmode=require channel_binding=require", db.Host, db.Port, db.Database), "28P01"},
		// pgconn refuses the cleartext request and returns at once, with no
		// further read or write.
		{"require_auth_refused", fmt.Sprintf("host=127.0.0.1 port=%d sslmode=disable require_auth=scram-sha-256", fake.port()), ""},
	} {
		for _, via := range []string{"pgx.ConnectConfig", "pgxpool"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				pw := sentinelPassword()
				sm := smtest.NewServer()
				defer sm.Close()
				sm.CreateSecret("app/pg", db.SecretJSONFor(db.User, pw))
				hook, err := NewHook("app/pg", secretsql.WithClient(sm.Client()))
				if err != nil {
					t.Fatal(err)
				}
				defer hook.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if via == "pgxpool" {
					err = poolConnect(ctx, hook, tc.conn)
				} else {
					err = hookConnect(ctx, hook, tc.conn)
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

// TestHookConnHoldsNoPassword: pgconn needs the password only to
// authenticate, so a connection made through the Hook (over SCRAM, with
// and without TLS) keeps none in its configuration (pgx.Conn.Config,
// pgconn.PgConn's), and the configuration the hook was given has none
// either.
func TestHookConnHoldsNoPassword(t *testing.T) {
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
		cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s %s", db.Host, db.Port, db.Database, params))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hook.BeforeConnect(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("%s: %v", params, err)
		}
		var user string
		if err := conn.QueryRow(ctx, "select current_user").Scan(&user); err != nil || user != db.User {
			t.Errorf("%s: current_user = %q, %v", params, user, err)
		}
		for what, pw := range map[string]string{
			"the hook's configuration": cfg.Password,
			"pgx.Conn.Config":          conn.Config().Password,
		} {
			if pw == db.Password {
				t.Errorf("%s: %s holds the password after the login", params, what)
			}
		}
		conn.Close(ctx)
	}
}
