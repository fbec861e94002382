// Command bun uses secretsql through bun with its PostgreSQL dialect: bun
// wraps any *sql.DB.
//
//	SECRET_ID=prod/app go run ./bun
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	_ "github.com/secretsql/secretsql/engines/postgres" // secretsmanager-postgres
)

// Book is a bun model.
type Book struct {
	bun.BaseModel `bun:"table:books"`
	ID            int64  `bun:",pk,autoincrement"`
	Title         string `bun:",notnull"`
}

func main() {
	secretID := flag.String("secret", os.Getenv("SECRET_ID"), "secret name or ARN (default $SECRET_ID)")
	flag.Parse()
	if err := run(context.Background(), *secretID, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, secretID string, out io.Writer) error {
	sqldb, err := sql.Open("secretsmanager-postgres", secretID)
	if err != nil {
		return err
	}
	db := bun.NewDB(sqldb, pgdialect.New())
	defer db.Close()

	if _, err := db.NewCreateTable().Model((*Book)(nil)).IfNotExists().Exec(ctx); err != nil {
		return err
	}
	books := []Book{{Title: "Dune"}, {Title: "Emma"}}
	if _, err := db.NewInsert().Model(&books).Exec(ctx); err != nil {
		return err
	}
	var got []Book
	if err := db.NewSelect().Model(&got).Order("id").Scan(ctx); err != nil {
		return err
	}
	for _, b := range got {
		fmt.Fprintf(out, "%d %s\n", b.ID, b.Title)
	}
	return nil
}
