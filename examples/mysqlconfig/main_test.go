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
	arn, db, _ := extest.Setup(t, testdb.EngineMariaDB)
	var out bytes.Buffer
	if err := run(context.Background(), arn, fmt.Sprintf("%s:%d", db.Host, db.Port), db.Database, &out); err != nil {
		t.Fatal(err)
	}
	if want := "connected as " + db.User + "@%\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}
