package mysql_test

// Micro benchmarks of the mysql engine: what secretsql adds per native
// connector (NewConnector, once per secret version) and per failed connect
// (IsAuthError). Run them with
//
//	go test -run '^$' -bench . -benchmem ./engines/mysql

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/secretsql/secretsql"
	_ "github.com/secretsql/secretsql/engines/mysql"
	"github.com/secretsql/secretsql/internal/drivertest"
	"github.com/secretsql/secretsql/internal/testdb"
)

// connectErr returns the error go-sql-driver/mysql's Connect returns for cfg.
func connectErr(b *testing.B, cfg *mysql.Config) error {
	b.Helper()
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c.Connect(ctx)
	if err == nil {
		conn.Close()
		b.Fatal("connect succeeded, want an error")
	}
	return err
}

// BenchmarkIsAuthError classifies real go-sql-driver/mysql errors: a wrong
// password answered by the local MariaDB (*mysql.MySQLError 1045; skipped
// without the test bed), the same error wrapped by an application, and a
// refused TCP connection (no MySQLError in the chain).
func BenchmarkIsAuthError(b *testing.B) {
	e := drivertest.Engine("mysql")
	refusedCfg := mysql.NewConfig()
	refusedCfg.Net, refusedCfg.Addr, refusedCfg.User, refusedCfg.Passwd = "tcp", "127.0.0.1:1", "app", "pw"
	refusedCfg.Timeout = 5 * time.Second
	refused := connectErr(b, refusedCfg)
	drivertest.BenchIsAuthError(b, e, []drivertest.AuthErrorCase{
		{Name: "server-1045", Err: func(b *testing.B) error {
			db := testdb.MariaDB(b)
			cfg := mysql.NewConfig()
			cfg.Net, cfg.Addr, cfg.DBName = "tcp", db.Host+":"+strconv.Itoa(db.Port), db.Database
			cfg.User, cfg.Passwd = db.User, db.Password+"-wrong"
			return connectErr(b, cfg)
		}, Want: true},
		{Name: "wrapped-1045", Err: func(*testing.B) error {
			return fmt.Errorf("app: %w", &mysql.MySQLError{Number: 1045, SQLState: [5]byte{'2', '8', '0', '0', '0'},
				Message: "Access denied for user 'app'@'10.0.0.1' (using password: YES)"})
		}, Want: true},
		{Name: "refused", Err: func(*testing.B) error { return refused }, Want: false},
	})
}

// BenchmarkNewConnector builds the go-sql-driver/mysql connector for one
// version of the credentials (mysql.ParseDSN of a credential-free DSN).
func BenchmarkNewConnector(b *testing.B) {
	e := drivertest.Engine("mysql")
	creds := secretsql.Credentials{Host: "db.internal", Port: 3306, Username: "app",
		Database: "app"}.WithPassword(`s3cr3t'"\@:/?#%;{}+ pw`)
	drivertest.BenchNewConnector(b, e, creds, url.Values{"parseTime": {"true"}, "timeout": {"5s"}, "charset": {"utf8mb4"}})
}
