// Command gorm uses secretsql through GORM, on PostgreSQL or MySQL/MariaDB:
// GORM's dialectors accept an existing *sql.DB (Conn), so the connection
// pool is secretsql's.
//
//	SECRET_ID=prod/app go run ./gorm -engine postgres
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	_ "github.com/secretsql/secretsql/engines/mysql"    // secretsmanager-mysql, secretsmanager-mariadb
	_ "github.com/secretsql/secretsql/engines/postgres" // secretsmanager-postgres
)

// Product is a GORM model.
type Product struct {
	ID    uint
	Code  string
	Price uint
}

func main() {
	secretID := flag.String("secret", os.Getenv("SECRET_ID"), "secret name or ARN (default $SECRET_ID)")
	engine := flag.String("engine", "postgres", "postgres, mysql or mariadb")
	flag.Parse()
	if err := run(context.Background(), *engine, *secretID, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, engine, secretID string, out io.Writer) error {
	dsn := secretID
	if engine != "postgres" {
		dsn += "?parseTime=true" // a go-sql-driver/mysql parameter, passed through
	}
	sqlDB, err := sql.Open("secretsmanager-"+engine, dsn)
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	var dialector gorm.Dialector
	switch engine {
	case "postgres":
		dialector = postgres.New(postgres.Config{Conn: sqlDB})
	case "mysql", "mariadb":
		dialector = mysql.New(mysql.Config{Conn: sqlDB})
	default:
		return fmt.Errorf("engine %q: want postgres, mysql or mariadb", engine)
	}
	db, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	db = db.WithContext(ctx)
	if err := db.AutoMigrate(&Product{}); err != nil {
		return err
	}
	if err := db.Create(&Product{Code: "D42", Price: 100}).Error; err != nil {
		return err
	}
	var p Product
	if err := db.First(&p, "code = ?", "D42").Error; err != nil {
		return err
	}
	fmt.Fprintf(out, "%s costs %d\n", p.Code, p.Price)
	return nil
}
