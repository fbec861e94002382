package reliability

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/csitest"
	"github.com/secretsql/secretsql/internal/testdb"
)

// TestFileSourceRotation: 50 workers query PostgreSQL through a secret in a
// CSI-style mounted file. First a half-written file replaces the secret
// (the password unchanged in the database): no query fails, the cached
// value stays. Then the password changes and the file is swapped to the new
// version: no query that starts once the file holds the new password fails.
func TestFileSourceRotation(t *testing.T) {
	tdb := testdb.Postgres(t)
	m := csitest.New(t, "prod_db", tdb.SecretJSON())
	var ev events
	db, c := openChurningPool(t, "file:"+m.Path()+"?ttl=1s", secretsql.WithObserver(ev.observe))
	l := testdb.StartLoad(50, testdb.SelectOne(db))
	time.Sleep(300 * time.Millisecond)
	// A file being written: not JSON yet. The next refreshes refuse it.
	m.Write(`{"engine":"postgres","host":"127.0.0.1","username":"` + tdb.User + `","pass`)
	waitFor(t, 5*time.Second, func() bool { return ev.count(secretsql.EventStaleServed) > 0 })
	// The rotation: the database first, then the file, at once.
	pw := testdb.RandomPassword()
	if err := tdb.SetPassword(context.Background(), tdb.User, pw); err != nil {
		t.Fatal(err)
	}
	m.Write(tdb.SecretJSONFor(tdb.User, pw))
	swapped := time.Now()
	time.Sleep(1500 * time.Millisecond)
	var lagFailed int
	var failures []error
	for _, f := range l.Stop() {
		if f.Start.Before(swapped) {
			lagFailed++ // started before the file held the new password
		} else {
			failures = append(failures, f.Err)
		}
	}

	t.Logf("file source, 50 workers: %d queries, %d failed in the lag between the password change and the file swap, "+
		"%d failed after the swap, %d stale-served events while the file was half-written", l.Queries(), lagFailed, len(failures), ev.count(secretsql.EventStaleServed))
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
