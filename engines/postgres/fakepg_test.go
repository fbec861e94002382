package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/smtest"
)

// fakePG is an in-process PostgreSQL server that speaks just enough of the
// start-up protocol for pgconn to log in with a cleartext password: it
// pins the pgx behaviours the Hook relies on, with no database involved.
type fakePG struct {
	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	password string  // the one it accepts
	logins   []login // every password message, in order
}

type login struct {
	user, password string
	ok             bool
}

func newFakePG(t *testing.T, password string) *fakePG {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakePG{ln: ln, password: password}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *fakePG) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *fakePG) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	be := pgproto3.NewBackend(c, c)
	msg, err := be.ReceiveStartupMessage()
	if _, ssl := msg.(*pgproto3.SSLRequest); ssl && err == nil {
		if _, err := c.Write([]byte{'N'}); err != nil {
			return
		}
		msg, err = be.ReceiveStartupMessage()
	}
	sm, ok := msg.(*pgproto3.StartupMessage)
	if err != nil || !ok {
		return
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeCleartextPassword) != nil {
		return
	}
	msg, err = be.Receive()
	pm, ok := msg.(*pgproto3.PasswordMessage)
	if err != nil || !ok {
		return
	}
	s.mu.Lock()
	l := login{user: sm.Parameters["user"], password: pm.Password, ok: pm.Password == s.password}
	s.logins = append(s.logins, l)
	s.mu.Unlock()
	if !l.ok {
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01", Message: fmt.Sprintf("password authentication failed for user %q", l.user)})
		_ = be.Flush()
		return
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "15.0"})
	be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	for {
		if msg, err := be.Receive(); err != nil {
			return
		} else if _, bye := msg.(*pgproto3.Terminate); bye {
			return
		}
	}
}

func (s *fakePG) seen() []login {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]login(nil), s.logins...)
}

// hookOn returns a Hook on a secret whose AWSCURRENT holds pw1 and, if
// pending is set, AWSPENDING holds it.
func hookOn(t *testing.T, pending string, opts ...secretsql.Option) *Hook {
	t.Helper()
	sm := smtest.NewServer()
	t.Cleanup(sm.Close)
	secret := func(pw string) string { return fmt.Sprintf(`{"engine":"postgres","username":"app","password":%q}`, pw) }
	sm.CreateSecret("fake/pg", secret("pw1"))
	if pending != "" {
		sm.PutSecretString("fake/pg", secret(pending), "AWSPENDING")
	}
	hook, err := NewHook("fake/pg", append([]secretsql.Option{secretsql.WithClient(sm.Client())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hook.Close() })
	return hook
}

// connectThrough connects with pgx through the hook to the servers given
// (a multi-host connection string when several).
func connectThrough(t *testing.T, hook *Hook, connString string) (*pgx.Conn, error) {
	t.Helper()
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hook.BeforeConnect(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { conn.Close(context.Background()) })
	}
	return conn, err
}

// TestPgxRetriesRejectedLoginInsideConnect pins both pgx behaviours the
// Hook relies on: pgconn logs in to the same target again when an
// attempt's error matches *pgconn.NotPreferredError, and it reads the
// password after AfterNetConnect. If pgx stopped retrying, the connect
// would fail; if it read the password earlier, the second login would
// send the first password again.
func TestPgxRetriesRejectedLoginInsideConnect(t *testing.T) {
	srv := newFakePG(t, "pw2")
	hook := hookOn(t, "pw2")
	if _, err := connectThrough(t, hook, fmt.Sprintf("host=127.0.0.1 port=%d user=x sslmode=disable", srv.port())); err != nil {
		t.Fatalf("connect through the hook: %v", err)
	}
	want := []login{{"app", "pw1", false}, {"app", "pw2", true}}
	if got := srv.seen(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("logins %v, want %v: one rejected, then one retried with AWSPENDING's password", got, want)
	}
	if st := hook.Stats(); st.Retries != 1 || st.AuthFailures != 1 || st.Logins != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The next connect uses the new credentials at once.
	if _, err := connectThrough(t, hook, fmt.Sprintf("host=127.0.0.1 port=%d sslmode=disable", srv.port())); err != nil {
		t.Fatal(err)
	}
	if got := srv.seen(); len(got) != 3 || got[2].password != "pw2" {
		t.Fatalf("logins %v: the connect after the retry must use the new password first", got)
	}
}

// TestHookFailsSafeWithoutRetry is the fail-safe half: were pgx to stop
// retrying (simulated by retryLogin no longer matching NotPreferredError),
// the connect fails once, with pgx's own 28P01 error, and never loops.
func TestHookFailsSafeWithoutRetry(t *testing.T) {
	disableRetry = true
	t.Cleanup(func() { disableRetry = false })
	srv := newFakePG(t, "pw2")
	hook := hookOn(t, "pw2")
	_, err := connectThrough(t, hook, fmt.Sprintf("host=127.0.0.1 port=%d sslmode=disable", srv.port()))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("err = %v, want pgx's *pgconn.PgError 28P01", err)
	}
	if got := srv.seen(); len(got) != 1 {
		t.Fatalf("logins %v, want exactly one", got)
	}
}

// TestHookNoNewerCredentials: with nothing newer than the rejected
// password, the caller gets pgx's own 28P01 after one login.
func TestHookNoNewerCredentials(t *testing.T) {
	srv := newFakePG(t, "something else")
	hook := hookOn(t, "")
	_, err := connectThrough(t, hook, fmt.Sprintf("host=127.0.0.1 port=%d sslmode=disable", srv.port()))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("err = %v, want pgx's *pgconn.PgError 28P01", err)
	}
	if got := srv.seen(); len(got) != 1 {
		t.Fatalf("logins %v, want one", got)
	}
}

// TestHookRetryOff: WithRetry(1, …) allows one login per connect.
func TestHookRetryOff(t *testing.T) {
	srv := newFakePG(t, "pw2")
	hook := hookOn(t, "pw2", secretsql.WithRetry(1, 0))
	_, err := connectThrough(t, hook, fmt.Sprintf("host=127.0.0.1 port=%d sslmode=disable", srv.port()))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28P01" || len(srv.seen()) != 1 {
		t.Fatalf("err = %v after %d logins, want 28P01 after 1", err, len(srv.seen()))
	}
	if _, err := connectThrough(t, hook, fmt.Sprintf("host=127.0.0.1 port=%d sslmode=disable", srv.port())); err != nil {
		t.Fatalf("the next connect, with the credentials the rejection found: %v", err)
	}
}

// TestHookMultiHost: a retry goes back to the host that rejected the
// login, never to the next host of the list; other errors (a host down)
// keep pgx's own fallback to the next host.
func TestHookMultiHost(t *testing.T) {
	first, second := newFakePG(t, "pw2"), newFakePG(t, "pw2")
	hook := hookOn(t, "pw2")
	cs := fmt.Sprintf("host=127.0.0.1,127.0.0.1 port=%d,%d sslmode=disable", first.port(), second.port())
	if _, err := connectThrough(t, hook, cs); err != nil {
		t.Fatal(err)
	}
	if got := first.seen(); len(got) != 2 || !got[1].ok {
		t.Errorf("first host saw %v, want the rejected login and its retry", got)
	}
	if got := second.seen(); len(got) != 0 {
		t.Errorf("second host saw %v, want nothing", got)
	}
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downPort := down.Addr().(*net.TCPAddr).Port
	down.Close()
	cs = fmt.Sprintf("host=127.0.0.1,127.0.0.1 port=%d,%d sslmode=disable", downPort, second.port())
	if _, err := connectThrough(t, hook, cs); err != nil {
		t.Fatalf("first host down: %v", err)
	}
	if got := second.seen(); len(got) != 1 || !got[0].ok {
		t.Errorf("second host saw %v, want one login", got)
	}
}
