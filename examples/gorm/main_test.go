package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/secretsql/secretsql/examples/internal/extest"
	"github.com/secretsql/secretsql/internal/testdb"
)

func TestRun(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			arn, _, _ := extest.Setup(t, engine)
			var out bytes.Buffer
			if err := run(context.Background(), engine, arn, &out); err != nil {
				t.Fatal(err)
			}
			if want := "D42 costs 100\n"; out.String() != want {
				t.Errorf("output %q, want %q", out.String(), want)
			}
		})
	}
}
