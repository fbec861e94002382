package mysql_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"

	_ "github.com/secretsql/secretsql/engines/mysql"
	"github.com/secretsql/secretsql/internal/drivertest"
	"github.com/secretsql/secretsql/internal/testdb"
)

func TestDriver(t *testing.T) {
	drivertest.Run(t, drivertest.Config{
		Engine: "mysql",
		DB:     testdb.EngineMariaDB,
		RawConn: func(dc any) error {
			// go-sql-driver's connection type is unexported.
			if got := fmt.Sprintf("%T", dc); got != "*mysql.mysqlConn" {
				return fmt.Errorf("raw conn is %s, want *mysql.mysqlConn", got)
			}
			return nil
		},
		IsAuthError: func(err error) bool {
			var me *mysql.MySQLError
			return errors.As(err, &me) && me.Number == 1045
		},
		ColdStorm: 140, // MariaDB's default max_connections is 151
	})
}
