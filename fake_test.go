package secretsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretsql/secretsql/engine"
)

// testEngine is an [engine.Engine] whose server is a password table in memory: it
// tests the root package without a database driver. Database-backed tests
// live in the engine packages.
type testEngine struct {
	name  string
	srv   *fakeServer
	built *atomic.Int64 // counts NewConnector calls, if set
}

var _ engine.Engine = testEngine{}

func (e testEngine) Name() string          { return e.name }
func (testEngine) Defaults() (int, string) { return 5432, "defaultdb" }
func (testEngine) AcceptsSecretEngine(v string) bool {
	return v == "postgres" || v == "aurora-postgresql"
}
func (e testEngine) Prepare(p url.Values) (engine.Prepared, error) {
	if p.Has("bad") {
		return nil, errors.New("bad parameter")
	}
	return e, nil
}

// Connector makes testEngine its own Prepared.
func (e testEngine) Connector(c Credentials) (driver.Connector, error) {
	if e.built != nil {
		e.built.Add(1)
	}
	return &fakeConnector{c: c, srv: e.srv}, nil
}

func (testEngine) IsAuthError(err error) bool { return errors.Is(err, errFakeAuth) }

var (
	errFakeAuth = errors.New("fake: password authentication failed")
	errFakeDown = errors.New("fake: connection refused")
)

// fakeServer accepts one password per user.
type fakeServer struct {
	mu       sync.Mutex
	users    map[string]string
	down     bool
	logins   atomic.Int64
	failures atomic.Int64
}

func newFakeServer() *fakeServer { return &fakeServer{users: map[string]string{}} }

func (s *fakeServer) setPassword(user, pw string) {
	s.mu.Lock()
	s.users[user] = pw
	s.mu.Unlock()
}

func (s *fakeServer) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

type fakeConnector struct {
	c   Credentials
	srv *fakeServer
}

func (f *fakeConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.srv.mu.Lock()
	pw, ok := f.srv.users[f.c.Username]
	down := f.srv.down
	f.srv.mu.Unlock()
	if down {
		return nil, errFakeDown
	}
	if !ok || pw != f.c.Password() {
		f.srv.failures.Add(1)
		return nil, errFakeAuth
	}
	f.srv.logins.Add(1)
	return &fakeConn{c: f.c}, nil
}

func (f *fakeConnector) Driver() driver.Driver { return nil }

type fakeConn struct{ c Credentials }

func (*fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("fake: no statements") }
func (*fakeConn) Close() error                        { return nil }
func (*fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("fake: no transactions") }

// openConnector is NewConnector for an engine that is not registered.
func openConnector(e engine.Engine, dsn string, opts ...Option) (*Connector, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newConnector(e, nil, dsn, &cfg)
}

// awaitUser connects through c until a connection logs in as user (a new
// version picked up by a background refresh), for at most d.
func awaitUser(t *testing.T, c *Connector, user string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		conn, err := c.Connect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if conn.(*fakeConn).c.Username == user {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection as %s within %v: the background refresh never picked up the new version", user, d)
		}
	}
}
