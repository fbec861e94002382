package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/secretsql/secretsql/examples/internal/extest"
	"github.com/secretsql/secretsql/internal/testdb"
)

func TestRun(t *testing.T) {
	arn, _, _ := extest.Setup(t, testdb.EnginePostgres)
	var out bytes.Buffer
	if err := run(context.Background(), arn, &out); err != nil {
		t.Fatal(err)
	}
	if want := "1 Ada\n2 Grace\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}
