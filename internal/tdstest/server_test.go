package tdstest_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/secretsql/secretsql/internal/tdstest"
)

// dsn returns a go-mssqldb URL for srv with the given credentials and query.
func dsn(srv *tdstest.Server, user, password string, query url.Values) string {
	if query == nil {
		query = url.Values{}
	}
	if !query.Has("encrypt") {
		query.Set("encrypt", "disable")
	}
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(user, password), Host: srv.Addr(), RawQuery: query.Encode()}
	return u.String()
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func queryInt(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string) int {
	t.Helper()
	var n int
	if err := q.QueryRowContext(ctx(t), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func queryString(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	var s string
	if err := db.QueryRowContext(ctx(t), query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func TestLoginAndSelect(t *testing.T) {
	srv := tdstest.NewServer(t, "app", "s3cret")
	db := open(t, dsn(srv, "app", "s3cret", url.Values{"database": {"sales db"}}))
	if err := db.PingContext(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if n := queryInt(t, db, "SELECT 1"); n != 1 {
		t.Errorf("SELECT 1 = %d", n)
	}
	if n := queryInt(t, db, "select  -42 ;"); n != -42 {
		t.Errorf("SELECT -42 = %d", n)
	}
	if s := queryString(t, db, "SELECT DB_NAME()"); s != "sales db" {
		t.Errorf("DB_NAME() = %q", s)
	}
	if s := queryString(t, db, "SELECT SUSER_SNAME()"); s != "app" {
		t.Errorf("SUSER_SNAME() = %q", s)
	}
	if srv.Logins() != 1 || srv.FailedLogins() != 0 {
		t.Errorf("logins %d, failed %d; want 1, 0", srv.Logins(), srv.FailedLogins())
	}
	if srv.Queries() < 4 {
		t.Errorf("Queries() = %d, want at least 4", srv.Queries())
	}
}

func TestDefaultDatabase(t *testing.T) {
	srv := tdstest.NewServer(t, "app", "pw")
	db := open(t, dsn(srv, "app", "pw", nil))
	if s := queryString(t, db, "SELECT DB_NAME()"); s != "master" {
		t.Errorf("DB_NAME() = %q, want master", s)
	}
}

func TestEncryptionModes(t *testing.T) {
	srv := tdstest.NewServer(t, "app", "pw")
	// The server answers ENCRYPT_NOT_SUP, so a client for which encryption
	// is optional logs in without TLS.
	for _, mode := range []string{"disable", "false", "optional"} {
		db := open(t, dsn(srv, "app", "pw", url.Values{"encrypt": {mode}}))
		if n := queryInt(t, db, "SELECT 7"); n != 7 {
			t.Errorf("encrypt=%s: SELECT 7 = %d", mode, n)
		}
	}
	// Without the encrypt key go-mssqldb also treats encryption as optional.
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword("app", "pw"), Host: srv.Addr()}
	if n := queryInt(t, open(t, u.String()), "SELECT 8"); n != 8 {
		t.Errorf("default encrypt: SELECT 8 = %d", n)
	}
	for _, mode := range []string{"true", "strict"} {
		err := open(t, dsn(srv, "app", "pw", url.Values{"encrypt": {mode}, "dial timeout": {"5"}})).PingContext(ctx(t))
		if err == nil {
			t.Errorf("encrypt=%s: login succeeded against a server without TLS", mode)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	srv := tdstest.NewServer(t, "app", "right")
	for _, tc := range []struct{ user, password string }{{"app", "wrong"}, {"other", "right"}, {"app", ""}} {
		err := open(t, dsn(srv, tc.user, tc.password, nil)).PingContext(ctx(t))
		var e mssql.Error
		if !errors.As(err, &e) {
			t.Fatalf("%s/%s: error %#v is not an mssql.Error", tc.user, tc.password, err)
		}
		want := fmt.Sprintf("login error: Login failed for user '%s'.", tc.user)
		if e.Number != 18456 || e.State != 1 || e.Class != 14 || e.Message != want || e.ServerName != "tdstest" {
			t.Errorf("got %d/%d/%d %q from %q; want 18456/1/14 %q", e.Number, e.State, e.Class, e.Message, e.ServerName, want)
		}
	}
	if srv.Logins() != 0 || srv.FailedLogins() != 3 {
		t.Errorf("logins %d, failed %d; want 0, 3", srv.Logins(), srv.FailedLogins())
	}
	// The server closes the connection after a failed login.
	waitFor(t, func() bool { return srv.OpenConns() == 0 }, "connections closed after failed logins")
}

func TestHostilePasswords(t *testing.T) {
	for _, pw := range []string{
		"p@ss/word", "a:b@c/d?e#f%g h", `q"uo'te;{brace}}\`, " lead and trail ", "pässwörd€ß漢字", "comma,eq=amp&plus+",
	} {
		srv := tdstest.NewServer(t, "us:er@corp", pw)
		db := open(t, dsn(srv, "us:er@corp", pw, nil))
		if n := queryInt(t, db, "SELECT 1"); n != 1 {
			t.Errorf("%q: SELECT 1 = %d", pw, n)
		}
		if err := open(t, dsn(srv, "us:er@corp", pw+"x", nil)).PingContext(ctx(t)); err == nil {
			t.Errorf("%q: a longer password was accepted", pw)
		}
	}
}

func TestSetPassword(t *testing.T) {
	srv := tdstest.NewServer(t, "app", "old")
	oldDB := open(t, dsn(srv, "app", "old", nil))
	held, err := oldDB.Conn(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	srv.SetPassword("new")
	if got := srv.Password(); got != "new" {
		t.Fatalf("Password() = %q", got)
	}
	// A connection opened before the rotation keeps working.
	if n := queryInt(t, held, "SELECT 2"); n != 2 {
		t.Errorf("held connection: SELECT 2 = %d", n)
	}
	// New logins need the new password.
	var e mssql.Error
	if err := open(t, dsn(srv, "app", "old", nil)).PingContext(ctx(t)); !errors.As(err, &e) || e.Number != 18456 {
		t.Errorf("old password after rotation: %v", err)
	}
	if n := queryInt(t, open(t, dsn(srv, "app", "new", nil)), "SELECT 3"); n != 3 {
		t.Errorf("new password: SELECT 3 = %d", n)
	}
}

func TestResetConnection(t *testing.T) {
	srv := tdstest.NewServer(t, "app", "pw")
	db := open(t, dsn(srv, "app", "pw", url.Values{"database": {"inventory"}}))
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	// Every request after the first on a pooled connection carries the
	// RESETCONNECTION bit; the server must acknowledge it.
	for i := range 5 {
		if n := queryInt(t, db, fmt.Sprintf("SELECT %d", i)); n != i {
			t.Fatalf("SELECT %d = %d", i, n)
		}
		if s := queryString(t, db, "SELECT DB_NAME()"); s != "inventory" {
			t.Fatalf("DB_NAME() = %q", s)
		}
	}
	if srv.Logins() != 1 {
		t.Errorf("Logins() = %d, want 1 (the connection is reused)", srv.Logins())
	}
}

func TestPacketSplitting(t *testing.T) {
	srv := tdstest.NewServer(t, "app", "pw")
	long := strings.Repeat("d", 128)
	db := open(t, dsn(srv, "app", "pw", url.Values{"packet size": {"512"}, "database": {long}}))
	// The client splits this batch into several 512-byte packets, and the
	// server splits the login reply and the result.
	q := "SELECT" + strings.Repeat(" ", 3000) + "DB_NAME()"
	if s := queryString(t, db, q); s != long {
		t.Errorf("DB_NAME() = %q", s)
	}
}

func TestUnsupportedStatement(t *testing.T) {
	srv := tdstest.NewServer(t, "app", "pw")
	db := open(t, dsn(srv, "app", "pw", nil))
	_, err := db.ExecContext(ctx(t), "DROP TABLE users")
	var e mssql.Error
	if !errors.As(err, &e) || e.Number != 102 {
		t.Errorf("DROP TABLE: %v, want error 102", err)
	}
	_, err = db.ExecContext(ctx(t), "SELECT @p1", 1) // sent as RPC sp_executesql
	if !errors.As(err, &e) || e.Number != 2812 {
		t.Errorf("RPC: %v, want error 2812", err)
	}
	// The connection is still usable.
	if n := queryInt(t, db, "SELECT 5"); n != 5 {
		t.Errorf("SELECT 5 = %d", n)
	}
}

func TestConcurrentConnections(t *testing.T) {
	const n = 50
	srv := tdstest.NewServer(t, "app", "pw")
	db := open(t, dsn(srv, "app", "pw", nil))
	db.SetMaxOpenConns(n)
	var (
		wg    sync.WaitGroup
		ready sync.WaitGroup
		hold  = make(chan struct{})
		errs  = make(chan error, n)
	)
	ready.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := db.Conn(context.Background())
			ready.Done()
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			<-hold // keep every connection open until all are open
			var got int
			if err := c.QueryRowContext(context.Background(), fmt.Sprintf("SELECT %d", i)).Scan(&got); err != nil {
				errs <- err
			} else if got != i {
				errs <- fmt.Errorf("SELECT %d = %d", i, got)
			}
		}()
	}
	ready.Wait()
	if got := srv.OpenConns(); got != n {
		t.Errorf("OpenConns() = %d, want %d", got, n)
	}
	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if srv.Logins() != n || srv.FailedLogins() != 0 {
		t.Errorf("logins %d, failed %d; want %d, 0", srv.Logins(), srv.FailedLogins(), n)
	}
}

func TestConcurrentRotation(t *testing.T) {
	srv := tdstest.NewServer(t, "app", "p0")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				pw := srv.Password()
				db, err := sql.Open("sqlserver", dsn(srv, "app", pw, nil))
				if err != nil {
					t.Error(err)
					return
				}
				err = db.PingContext(context.Background())
				db.Close()
				var e mssql.Error
				if err != nil && (!errors.As(err, &e) || e.Number != 18456) {
					t.Errorf("unexpected error: %v", err)
				}
			}
		}()
	}
	for i := 1; i <= 20; i++ {
		srv.SetPassword(fmt.Sprintf("p%d", i))
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if srv.Logins() == 0 {
		t.Error("no login succeeded")
	}
}

func TestClose(t *testing.T) {
	srv := tdstest.NewServer(nil, "app", "pw")
	db := open(t, dsn(srv, "app", "pw", nil))
	held, err := db.Conn(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	done := make(chan struct{})
	go func() {
		srv.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a client held a connection")
	}
	if srv.OpenConns() != 0 {
		t.Errorf("OpenConns() = %d after Close", srv.OpenConns())
	}
	var n int
	if err := held.QueryRowContext(ctx(t), "SELECT 1").Scan(&n); err == nil {
		t.Error("query on a connection closed by the server succeeded")
	}
	if err := open(t, dsn(srv, "app", "pw", url.Values{"dial timeout": {"2"}})).PingContext(ctx(t)); err == nil {
		t.Error("connect after Close succeeded")
	}
	srv.Close() // idempotent
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// go-mssqldb v1.11.2 declares the LOGIN7 user name and password lengths in
// runes rather than UTF-16 code units (tds.go, sendLogin), so a password with
// a character outside the Basic Multilingual Plane arrives truncated, at this
// server as at SQL Server, and the login fails. TestRawAttentionAndReset shows
// that the server itself decodes such a password when its length is right.
// If this test starts failing, the driver was fixed: drop the caveat from the
// sqlserver engine's documentation.
func TestNonBMPPasswordTruncatedByDriver(t *testing.T) {
	srv := tdstest.NewServer(t, "app", "pw😀")
	err := open(t, dsn(srv, "app", "pw😀", nil)).PingContext(ctx(t))
	var e mssql.Error
	if !errors.As(err, &e) || e.Number != 18456 {
		t.Fatalf("login with a non-BMP password: %v; want the driver's truncation to cause error 18456", err)
	}
}
