// Command databasesql uses secretsql through plain database/sql.
//
//	SECRET_ID=prod/app go run ./databasesql
//
// The AWS SDK's default configuration applies: AWS_REGION (or a full
// secret ARN), credentials from the environment, profile or role, and
// AWS_ENDPOINT_URL_SECRETS_MANAGER for an emulator.
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

	_ "github.com/secretsql/secretsql/engines/postgres" // secretsmanager-postgres
)

func main() {
	secretID := flag.String("secret", os.Getenv("SECRET_ID"), "secret name or ARN (default $SECRET_ID)")
	flag.Parse()
	if err := run(context.Background(), *secretID, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, secretID string, out io.Writer) error {
	// The DSN is the secret id; secretsql DSN keys (region, host, …) and
	// pgx parameters may follow after '?', e.g. "prod/app?sslmode=require".
	db, err := sql.Open("secretsmanager-postgres", secretID)
	if err != nil {
		return err
	}
	defer db.Close()

	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10)
	// Why a lifetime matters for rotation: databases keep sessions that
	// logged in with an old password, so a pool without a lifetime may go
	// on using connections made with credentials that are no longer in the
	// secret (with alternating-users rotation, those of a user that the
	// next rotation will change). A finite lifetime makes the pool log in
	// again regularly; secretsql gives each new connection the current
	// credentials from its cache, and finds the new ones by itself when the
	// database rejects the old ones, so reconnecting costs no extra
	// Secrets Manager calls.
	db.SetConnMaxLifetime(15 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)

	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text NOT NULL)`); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO notes (body) VALUES ($1)`, "hello from database/sql"); err != nil {
		return err
	}
	var n int
	var user string
	if err := db.QueryRowContext(ctx, `SELECT count(*), current_user FROM notes`).Scan(&n, &user); err != nil {
		return err
	}
	fmt.Fprintf(out, "connected as %s; notes: %d\n", user, n)
	return nil
}
