package reliability

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/credential"
	"github.com/secretsql/secretsql/internal/csitest"
	"github.com/secretsql/secretsql/internal/testdb"
)

// countingConnector counts the connections a Connector opens.
type countingConnector struct {
	*secretsql.Connector
	n *atomic.Int64
}

func (c countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err == nil {
		c.n.Add(1)
	}
	return conn, err
}

// openPool opens a churning pool (20 connections living 50 ms) of engine
// on a Connector for dsn and pings it; logins, if not nil, counts the
// connections opened.
func openPool(t *testing.T, engine, dsn string, logins *atomic.Int64, opts ...secretsql.Option) *sql.DB {
	t.Helper()
	c, err := secretsql.NewConnector(engine, dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if logins == nil {
		logins = new(atomic.Int64)
	}
	db := sql.OpenDB(countingConnector{Connector: c, n: logins})
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(20)
	db.SetConnMaxLifetime(50 * time.Millisecond)
	if err := ping(db, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestFileFollowsDatabase: the database changes first and the mounted file
// follows 300 ms later, as with the Secrets Store CSI driver — swapped
// atomically, or rewritten in place (half-written first, complete 300 ms
// later) — under 50 workers on a churning pool: no query fails, because a
// rejected connect waits within its retry budget for the file to change.
func TestFileFollowsDatabase(t *testing.T) {
	for _, engine := range testdb.Engines() {
		for _, inPlace := range []bool{false, true} {
			name := engine + "/atomic_swap"
			if inPlace {
				name = engine + "/half_written"
			}
			t.Run(name, func(t *testing.T) { fileFollows(t, engine, inPlace) })
		}
	}
}

func fileFollows(t *testing.T, engine string, inPlace bool) {
	tdb := testdb.Open(t, engine)
	var path string
	var write func(string)
	if inPlace {
		path = filepath.Join(t.TempDir(), "secret.json")
		write = func(v string) {
			if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
				t.Error(err)
			}
		}
	} else {
		m := csitest.New(t, "db", tdb.SecretJSON())
		path, write = m.Path(), m.Write
	}
	write(tdb.SecretJSON())
	var ev events
	db := openPool(t, engine, "file:"+path, nil, secretsql.WithObserver(ev.observe))
	l := testdb.StartLoad(50, testdb.SelectOne(db))
	time.Sleep(300 * time.Millisecond)
	pw := testdb.RandomPassword()
	if err := tdb.SetPassword(context.Background(), tdb.User, pw); err != nil {
		t.Fatal(err)
	}
	next := tdb.SecretJSONFor(tdb.User, pw)
	if inPlace {
		write(next[:len(next)/2]) // the writer has written half of it
	}
	time.Sleep(300 * time.Millisecond)
	write(next)
	time.Sleep(time.Second)
	failures := l.Stop()
	t.Logf("%s, file %s 300 ms after the password change, 50 workers: %d queries, %d failed, %d rejected logins",
		engine, map[bool]string{false: "swapped", true: "half-written, then complete"}[inPlace], l.Queries(), len(failures),
		ev.count(secretsql.EventAuthFailed))
	for _, f := range failures {
		t.Errorf("query failed: %v", f.Err)
	}
	if ev.count(secretsql.EventAuthFailed) == 0 {
		t.Error("no login was rejected: the rotation did not happen under load")
	}
	if err := tdb.Login(context.Background(), tdb.User, tdb.Password); err == nil {
		t.Error("the old password still logs in")
	}
}

// rotatingSource is a credential source of a test's own: the password of
// period k is password(k), valid until the end of the period, when the
// database changes it (like a Vault static role whose rotation period is
// the period).
type rotatingSource struct {
	user   string
	start  time.Time
	period time.Duration
	reads  atomic.Int64
}

func (s *rotatingSource) password(k int) string { return "rot-" + strconv.Itoa(k) + "-Pw" }

func (s *rotatingSource) Fetch(_ context.Context, _ credential.Request) (credential.Credential, error) {
	s.reads.Add(1)
	k := int(time.Since(s.start) / s.period)
	c := credential.Credential{Username: s.user, Version: strconv.Itoa(k), Expiry: s.start.Add(time.Duration(k+1) * s.period)}
	return c.WithPassword(s.password(k)), nil
}

func (s *rotatingSource) Describe() credential.Description {
	return credential.Description{Name: "rotating", MinInterval: 0}
}

// TestExpiringSourceOfOwn: a source of the test's own hands out a
// credential that expires every 2 s while the database password changes
// every 2 s; 50 workers on a churning pool for 20 s: no query fails, and
// the source is read about once per expiry, not once per connect.
func TestExpiringSourceOfOwn(t *testing.T) {
	const period, run = 2 * time.Second, 20 * time.Second
	tdb := testdb.Postgres(t)
	src := &rotatingSource{user: tdb.User, start: time.Now(), period: period}
	if err := tdb.SetPassword(context.Background(), tdb.User, src.password(0)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	rotated := make(chan int)
	go func() { // the database: a new password at the start of each period
		defer close(rotated)
		for k := 1; ; k++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Until(src.start.Add(time.Duration(k) * period))):
			}
			if err := tdb.SetPassword(context.Background(), tdb.User, src.password(k)); err != nil {
				t.Error(err)
				return
			}
			rotated <- k
		}
	}()
	var ev events
	dsn := "?host=" + tdb.Host + "&port=" + strconv.Itoa(tdb.Port) + "&dbname=" + tdb.Database
	var connects atomic.Int64
	db := openPool(t, "postgres", dsn, &connects, secretsql.WithSource(src), secretsql.WithObserver(ev.observe))
	l := testdb.StartLoad(50, testdb.SelectOne(db))
	rotations := 0
	for deadline := time.After(run); ; {
		select {
		case <-rotated:
			rotations++
			continue
		case <-deadline:
		}
		break
	}
	failures := l.Stop()
	close(stop)
	for range rotated {
		rotations++
	}
	logins := connects.Load()
	t.Logf("expiring source of our own, period %s, 50 workers for %s: %d queries, %d failed, %d password changes, "+
		"%d reads of the source, %d connections opened, %d rejected logins", period, run, l.Queries(), len(failures), rotations,
		src.reads.Load(), logins, ev.count(secretsql.EventAuthFailed))
	for _, f := range failures {
		t.Errorf("query failed: %v", f.Err)
	}
	if rotations < 9 {
		t.Errorf("%d password changes in %s, want at least 9", rotations, run)
	}
	// About one read per expiry (a few more near each end: the ahead
	// refresh finds the same password), never one per login.
	if n := src.reads.Load(); n > int64(5*(rotations+1)) || n*4 > logins {
		t.Errorf("%d reads for %d password changes and %d connections", n, rotations, logins)
	}
	if err := tdb.Login(context.Background(), tdb.User, src.password(0)); err == nil {
		t.Error("the first password still logs in")
	}
}
