// Command mysqlconfig keeps its own go-sql-driver/mysql Config and takes
// only the credentials from Secrets Manager, through
// engines/mysql.Hook: its Connector builds the connector from a clone of
// the Config with the hook's mysql.BeforeConnect, and retries a login the
// server refused with the newer credentials it finds (AWSPENDING, then
// AWSCURRENT re-read), so a rotation costs no failed query.
//
//	SECRET_ID=prod/app DB_ADDR=db.internal:3306 DB_NAME=app go run ./mysqlconfig
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/go-sql-driver/mysql"

	secretsqlmysql "github.com/secretsql/secretsql/engines/mysql"
)

func main() {
	secretID := flag.String("secret", os.Getenv("SECRET_ID"), "secret name or ARN (default $SECRET_ID)")
	addr := flag.String("addr", os.Getenv("DB_ADDR"), "host:port (default $DB_ADDR)")
	dbname := flag.String("db", os.Getenv("DB_NAME"), "database (default $DB_NAME)")
	flag.Parse()
	if err := run(context.Background(), *secretID, *addr, *dbname, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, secretID, addr, dbname string, out io.Writer) error {
	hook, err := secretsqlmysql.NewHook(secretID)
	if err != nil {
		return err
	}
	defer hook.Close()

	cfg := mysql.NewConfig() // the application's own settings
	cfg.Net, cfg.Addr, cfg.DBName = "tcp", addr, dbname
	cfg.ParseTime = true
	cfg.Timeout = 5 * time.Second
	connector, err := hook.Connector(cfg) // user and password from the secret
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetConnMaxLifetime(15 * time.Minute)

	var user string
	var now time.Time
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER(), NOW()").Scan(&user, &now); err != nil {
		return err
	}
	fmt.Fprintf(out, "connected as %s\n", user)
	return nil
}
