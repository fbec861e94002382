package postgres_test

// Micro benchmarks of the postgres engine: what secretsql adds per native
// connector (NewConnector, once per secret version) and per failed connect
// (IsAuthError). Run them with
//
//	go test -run '^$' -bench . -benchmem ./engines/postgres

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secretsql/secretsql"
	_ "github.com/secretsql/secretsql/engines/postgres"
	"github.com/secretsql/secretsql/internal/drivertest"
	"github.com/secretsql/secretsql/internal/testdb"
)

// connectErr returns the error pgx's Connect returns for cfg.
func connectErr(b *testing.B, cfg *pgx.ConnConfig) error {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		conn.Close(ctx)
		b.Fatal("connect succeeded, want an error")
	}
	return err
}

// BenchmarkIsAuthError classifies real pgx errors: a wrong password answered
// by the local PostgreSQL (a *pgconn.ConnectError around a *pgconn.PgError
// 28P01; skipped without the test bed), the same PgError wrapped once more by
// an application, and a refused TCP connection (no PgError in the chain: the
// errors.As walk that finds nothing).
func BenchmarkIsAuthError(b *testing.B) {
	e := drivertest.Engine("postgres")
	refusedCfg, err := pgx.ParseConfig("host=127.0.0.1 port=1 user=app sslmode=disable connect_timeout=5")
	if err != nil {
		b.Fatal(err)
	}
	refusedCfg.Password = "pw"
	refused := connectErr(b, refusedCfg)
	drivertest.BenchIsAuthError(b, e, []drivertest.AuthErrorCase{
		{Name: "server-28P01", Err: func(b *testing.B) error {
			db := testdb.Postgres(b)
			cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s sslmode=disable", db.Host, db.Port, db.Database))
			if err != nil {
				b.Fatal(err)
			}
			cfg.User, cfg.Password = db.User, db.Password+"-wrong"
			return connectErr(b, cfg)
		}, Want: true},
		{Name: "wrapped-28P01", Err: func(*testing.B) error {
			return fmt.Errorf("app: %w", &pgconn.PgError{Severity: "FATAL", Code: "28P01",
				Message: `password authentication failed for user "app"`})
		}, Want: true},
		{Name: "refused", Err: func(*testing.B) error { return refused }, Want: false},
	})
}

// BenchmarkNewConnector builds the pgx connector for one version of the
// credentials: a quoted keyword/value string parsed by pgx.ParseConfig.
func BenchmarkNewConnector(b *testing.B) {
	e := drivertest.Engine("postgres")
	creds := secretsql.Credentials{Host: "db.internal", Port: 5432, Username: "app",
		Database: "app"}.WithPassword(`s3cr3t'"\@:/?#%;{}+ pw`)
	drivertest.BenchNewConnector(b, e, creds, url.Values{"sslmode": {"disable"}, "application_name": {"api"}, "connect_timeout": {"5"}})
}
