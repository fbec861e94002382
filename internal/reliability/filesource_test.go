package reliability

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/testdb"
)

// csiMount lays a secret out as the Secrets Store CSI driver does: the file
// name is a symlink to ..data/name, ..data a symlink to a timestamped
// directory, swapped atomically (a new symlink renamed over ..data) when the
// driver writes a new version.
type csiMount struct {
	t    testing.TB
	dir  string
	name string
	seq  int
}

func newCSIMount(t testing.TB, name, value string) *csiMount {
	m := &csiMount{t: t, dir: t.TempDir(), name: name}
	m.write(value)
	if err := os.Symlink(filepath.Join("..data", name), filepath.Join(m.dir, name)); err != nil {
		t.Fatal(err)
	}
	return m
}

// path is the file the DSN names.
func (m *csiMount) path() string { return filepath.Join(m.dir, m.name) }

// write puts value in a new timestamped directory and swaps ..data to it.
func (m *csiMount) write(value string) {
	m.t.Helper()
	m.seq++
	ts := "..2026_11_30_06_00_00." + strconv.Itoa(m.seq)
	if err := os.Mkdir(filepath.Join(m.dir, ts), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.dir, ts, m.name), []byte(value), 0o644); err != nil {
		m.t.Fatal(err)
	}
	tmp := filepath.Join(m.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, "..data")); err != nil {
		m.t.Fatal(err)
	}
}

// TestFileSourceRotation: 50 workers query PostgreSQL through a secret in a
// CSI-style mounted file. First a half-written file replaces the secret
// (the password unchanged in the database): no query fails, the cached
// value stays. Then the password changes and the file is swapped to the new
// version: no query that starts once the file holds the new password fails.
func TestFileSourceRotation(t *testing.T) {
	tdb := testdb.Postgres(t)
	m := newCSIMount(t, "prod_db", tdb.SecretJSON())
	var stale atomic.Int64
	c, err := secretsql.NewConnector("postgres", "file:"+m.path()+"?ttl=1s", secretsql.WithObserver(func(ev secretsql.Event) {
		if ev.Kind == secretsql.EventStaleServed {
			stale.Add(1)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxOpenConns(20)
	db.SetConnMaxLifetime(50 * time.Millisecond)
	if err := ping(db, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	var (
		queries, lagFailed atomic.Int64
		swapped            atomic.Int64 // UnixNano of the swap to the new password; 0 before
		mu                 sync.Mutex
		failures           []error
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now().UnixNano()
				qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
				var one int
				err := db.QueryRowContext(qctx, "SELECT 1").Scan(&one)
				qcancel()
				switch {
				case err == nil:
					queries.Add(1)
				case ctx.Err() != nil:
				case swapped.Load() == 0 || start < swapped.Load():
					lagFailed.Add(1) // started before the file held the new password
				default:
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	// A file being written: not JSON yet. The next refreshes refuse it.
	m.write(`{"engine":"postgres","host":"127.0.0.1","username":"` + tdb.User + `","pass`)
	waitFor(t, 5*time.Second, func() bool { return stale.Load() > 0 })
	// The rotation: the database first, then the file, at once.
	pw := testdb.RandomPassword()
	if err := tdb.SetPassword(ctx, tdb.User, pw); err != nil {
		t.Fatal(err)
	}
	m.write(tdb.SecretJSONFor(tdb.User, pw))
	swapped.Store(time.Now().UnixNano())
	time.Sleep(1500 * time.Millisecond)
	cancel()
	wg.Wait()

	t.Logf("file source, 50 workers: %d queries, %d failed in the lag between the password change and the file swap, "+
		"%d failed after the swap, %d stale-served events while the file was half-written", queries.Load(), lagFailed.Load(), len(failures), stale.Load())
	for _, err := range failures {
		t.Errorf("query after the file held the new password: %v", err)
	}
	if err := tdb.Login(context.Background(), tdb.User, tdb.Password); err == nil {
		t.Error("the old password still logs in")
	}
	r, err := c.Resolve(context.Background())
	if err != nil || r.Credentials.Password() != pw {
		t.Errorf("Resolve after the swap: %v (password current: %v)", err, err == nil && r.Credentials.Password() == pw)
	}
}

// TestFileSourceErrors: a missing file, a directory and a file without the
// credentials are errors that name the path and never the content.
func TestFileSourceErrors(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "s")
	if err := os.WriteFile(secret, []byte(`{"username":"u","password":"Fi1eSecretPw"`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want error
	}{
		{filepath.Join(dir, "missing"), secretsql.ErrSecretNotFound},
		{dir, secretsql.ErrMalformedSecret},
		{secret, secretsql.ErrMalformedSecret},
	} {
		c, err := secretsql.NewConnector("postgres", "file://"+tc.path+"?host=127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Resolve(context.Background())
		c.Close()
		var fe *secretsql.FetchError
		if !errors.Is(err, tc.want) || !errors.As(err, &fe) {
			t.Errorf("%s: %v, want %v", tc.path, err, tc.want)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.path) || strings.Contains(msg, "Fi1eSecretPw") {
			t.Errorf("%s: the error must name the path and never the content: %v", tc.path, err)
		}
	}
	for _, dsn := range []string{"file:relative/path", "file:/x?region=us-east-1", "file:/x?source=agent", "file:/x?stage=AWSPENDING"} {
		if _, err := secretsql.NewConnector("postgres", dsn); !errors.Is(err, secretsql.ErrInvalidDSN) {
			t.Errorf("%q: %v, want ErrInvalidDSN", dsn, err)
		}
	}
}
