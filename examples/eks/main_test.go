package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/secretsql/secretsql/internal/testdb"
)

// mount lays out dir as the Secrets Store CSI driver does: prod_db is a
// symlink to ..data/prod_db, ..data a symlink to a timestamped directory
// that is swapped atomically for each new version.
type mount struct {
	t   *testing.T
	dir string
	n   int
}

func (m *mount) write(value string) {
	m.t.Helper()
	m.n++
	ts := "..2026_11_30_12_00_00." + strconv.Itoa(m.n)
	if err := os.Mkdir(filepath.Join(m.dir, ts), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.dir, ts, "prod_db"), []byte(value), 0o644); err != nil {
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

// TestRunOnMountedFile runs the service's query against a file laid out as
// the CSI driver lays it out, then through an alternating-users rotation
// as the driver would deliver it (the file swapped to the clone user).
func TestRunOnMountedFile(t *testing.T) {
	db := testdb.Postgres(t)
	m := &mount{t: t, dir: t.TempDir()}
	m.write(db.SecretJSON())
	if err := os.Symlink(filepath.Join("..data", "prod_db"), filepath.Join(m.dir, "prod_db")); err != nil {
		t.Fatal(err)
	}
	pool, err := open("file:" + filepath.Join(m.dir, "prod_db") + "?sslmode=disable&ttl=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var out bytes.Buffer
	if err := report(context.Background(), pool, &out); err != nil {
		t.Fatal(err)
	}
	if want := "ok: connected as " + db.User + "\n"; out.String() != want {
		t.Fatalf("report %q, want %q", out.String(), want)
	}

	// Alternating users: the clone gets a new password, the file is
	// swapped; the old user keeps working meanwhile.
	clone := db.User + "_clone"
	pw := testdb.RandomPassword()
	if err := db.CloneUser(context.Background(), db.User, clone, pw); err != nil {
		t.Fatal(err)
	}
	m.write(db.SecretJSONFor(clone, pw))
	pool.SetMaxIdleConns(0) // every query logs in
	for i := 0; ; i++ {
		out.Reset()
		if err := report(context.Background(), pool, &out); err != nil {
			t.Fatal(err)
		}
		if out.String() == "ok: connected as "+clone+"\n" {
			break
		}
		if i == 300 {
			t.Fatalf("still %q after 3 s: the file swap was not picked up", out.String())
		}
		sleep(10)
	}
}

func sleep(ms int) { <-time.After(time.Duration(ms) * time.Millisecond) }
