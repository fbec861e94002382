package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/secretsql/secretsql/internal/csitest"
	"github.com/secretsql/secretsql/internal/testdb"
)

// TestRunOnMountedFile runs the service's query against a file laid out as
// the CSI driver lays it out, then through an alternating-users rotation
// as the driver would deliver it (the file swapped to the clone user).
func TestRunOnMountedFile(t *testing.T) {
	db := testdb.Postgres(t)
	m := csitest.New(t, "prod_db", db.SecretJSON())
	pool, err := open("file:" + m.Path() + "?sslmode=disable&ttl=1s")
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
	m.Write(db.SecretJSONFor(clone, pw))
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
		time.Sleep(10 * time.Millisecond)
	}
}
