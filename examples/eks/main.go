// Command eks is a small HTTP service for Kubernetes (EKS) that reads its
// database secret from a file the Secrets Store CSI driver mounts with the
// AWS provider (ASCP): the DSN is the file's path. The manifests in deploy/
// mount the secret prod/db at /mnt/secrets-store/prod_db and set DB_DSN.
//
//	DB_DSN='file:/mnt/secrets-store/prod_db?sslmode=verify-full' go run ./eks
//
// secretsql checks the file for a change every 10 s and after a rejected
// login, follows the driver's atomic ..data swap, and never replaces a good
// value with a half-written file. With enableSecretRotation the driver
// rewrites the file every rotationPollInterval (2 minutes by default): rotate
// the secret with alternating users so that the previous user keeps working
// until the file catches up.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	_ "github.com/secretsql/secretsql/engines/postgres" // secretsmanager-postgres
)

func main() {
	dsn := os.Getenv("DB_DSN")
	if dsn == "" {
		dsn = "file:/mnt/secrets-store/prod_db"
	}
	db, err := open(dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := report(r.Context(), db, w); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// open opens the pool on the mounted secret.
func open(dsn string) (*sql.DB, error) {
	db, err := sql.Open("secretsmanager-postgres", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(10)
	// Log in again regularly: connections made with the previous user or
	// password are replaced by ones made with the file's current secret.
	db.SetConnMaxLifetime(5 * time.Minute)
	return db, nil
}

// report queries the database and writes who the service is connected as.
func report(ctx context.Context, db *sql.DB, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var user string
	if err := db.QueryRowContext(ctx, "SELECT current_user").Scan(&user); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "ok: connected as %s\n", user)
	return err
}
