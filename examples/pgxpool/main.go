// Command pgxpool uses secretsql's credentials in a native pgx pool: the
// pool's own configuration gives host, port, database and TLS; the hook
// (engines/postgres.Hook) gives user and password from the secret, from the
// same process-wide cache as the database/sql driver.
//
//	SECRET_ID=prod/app DATABASE_URL='host=db.internal dbname=app sslmode=verify-full' go run ./pgxpool
//
// Unlike database/sql through secretsql, a pgx pool cannot retry a connect
// the database refused: during a rotation, connects that had started with
// the old password fail once (Acquire returns the error), and the hook
// makes the following ones use the new password.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secretsql/secretsql/engines/postgres"
)

func main() {
	secretID := flag.String("secret", os.Getenv("SECRET_ID"), "secret name or ARN (default $SECRET_ID)")
	connString := flag.String("pool", os.Getenv("DATABASE_URL"), "pgxpool connection string without credentials (default $DATABASE_URL)")
	flag.Parse()
	if err := run(context.Background(), *secretID, *connString, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, secretID, connString string, out io.Writer) error {
	hook, err := postgres.NewHook(secretID)
	if err != nil {
		return err
	}
	defer hook.Close()
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return err
	}
	cfg.MaxConns = 8
	hook.Configure(cfg) // sets cfg.BeforeConnect
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	var user string
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
		return err
	}
	fmt.Fprintf(out, "connected as %s\n", user)
	return nil
}
