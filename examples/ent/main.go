// Command ent uses secretsql through ent's SQL driver.
//
// ent runs on any *sql.DB: entsql.OpenDB(dialect.Postgres, db) gives the
// driver that a generated client takes with ent.Driver(drv):
//
//	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, db)))
//
// To stay small (no generated code), this example uses the same driver with
// ent's SQL builder (entgo.io/ent/dialect/sql) directly.
//
//	SECRET_ID=prod/app go run ./ent
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

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
	db, err := sql.Open("secretsmanager-postgres", secretID)
	if err != nil {
		return err
	}
	drv := entsql.OpenDB(dialect.Postgres, db)
	defer drv.Close() // closes db

	if err := drv.Exec(ctx, `CREATE TABLE IF NOT EXISTS users (id serial PRIMARY KEY, name text NOT NULL, age int NOT NULL)`, []any{}, nil); err != nil {
		return err
	}
	b := entsql.Dialect(dialect.Postgres)
	q, args := b.Insert("users").Columns("name", "age").Values("ada", 36).Values("alan", 41).Query()
	if err := drv.Exec(ctx, q, args, nil); err != nil {
		return err
	}
	q, args = b.Select("name", "age").From(entsql.Table("users")).Where(entsql.GT("age", 40)).Query()
	var rows entsql.Rows
	if err := drv.Query(ctx, q, args, &rows); err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var age int
		if err := rows.Scan(&name, &age); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %d\n", name, age)
	}
	return rows.Err()
}
