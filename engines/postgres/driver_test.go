package postgres_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	_ "github.com/secretsql/secretsql/engines/postgres"
	"github.com/secretsql/secretsql/internal/drivertest"
	"github.com/secretsql/secretsql/internal/testdb"
)

func TestDriver(t *testing.T) {
	drivertest.Run(t, drivertest.Config{
		Engine: "postgres",
		DB:     testdb.EnginePostgres,
		RawConn: func(dc any) error {
			if _, ok := dc.(*stdlib.Conn); !ok {
				return fmt.Errorf("raw conn is %T, want *stdlib.Conn", dc)
			}
			return nil
		},
		IsAuthError: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "28P01"
		},
		ColdStorm: 90, // PostgreSQL's default max_connections is 100
	})
}
