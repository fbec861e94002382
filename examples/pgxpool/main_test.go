package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/secretsql/secretsql/examples/internal/extest"
	"github.com/secretsql/secretsql/internal/testdb"
)

func TestRun(t *testing.T) {
	arn, db, _ := extest.Setup(t, testdb.EnginePostgres)
	var out bytes.Buffer
	pool := fmt.Sprintf("host=%s port=%d dbname=%s sslmode=disable", db.Host, db.Port, db.Database)
	if err := run(context.Background(), arn, pool, &out); err != nil {
		t.Fatal(err)
	}
	if want := "connected as " + db.User + "\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}
