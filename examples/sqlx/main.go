// Command sqlx uses secretsql through github.com/jmoiron/sqlx.
//
//	SECRET_ID=prod/app go run ./sqlx
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/jmoiron/sqlx"

	_ "github.com/secretsql/secretsql/engines/postgres" // secretsmanager-postgres
)

// sqlx picks the bind variable style by driver name; tell it that
// secretsql's PostgreSQL driver uses $1, $2, …
func init() { sqlx.BindDriver("secretsmanager-postgres", sqlx.DOLLAR) }

// Person is a row of the people table.
type Person struct {
	ID   int    `db:"id"`
	Name string `db:"name"`
}

func main() {
	secretID := flag.String("secret", os.Getenv("SECRET_ID"), "secret name or ARN (default $SECRET_ID)")
	flag.Parse()
	if err := run(context.Background(), *secretID, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, secretID string, out io.Writer) error {
	db, err := sqlx.Open("secretsmanager-postgres", secretID)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS people (id serial PRIMARY KEY, name text NOT NULL)`); err != nil {
		return err
	}
	for _, name := range []string{"Ada", "Grace"} {
		if _, err := db.NamedExecContext(ctx, `INSERT INTO people (name) VALUES (:name)`, Person{Name: name}); err != nil {
			return err
		}
	}
	var people []Person
	if err := db.SelectContext(ctx, &people, db.Rebind(`SELECT id, name FROM people WHERE name <> ? ORDER BY id`), "nobody"); err != nil {
		return err
	}
	for _, p := range people {
		fmt.Fprintf(out, "%d %s\n", p.ID, p.Name)
	}
	return nil
}
