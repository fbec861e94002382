// Command lambda is an AWS Lambda function for the provided.al2023 runtime
// (build it as a binary named bootstrap) that queries PostgreSQL with
// credentials read through the AWS Parameters and Secrets Lambda Extension:
//
//	GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap ./lambda
//	zip function.zip bootstrap
//
// Add the extension's layer to the function and set DB_DSN, e.g.
// "prod/app?source=agent&sslmode=require". The extension listens on
// localhost:$PARAMETERS_SECRETS_EXTENSION_HTTP_PORT (2773) and takes the
// function's AWS_SESSION_TOKEN as its SSRF token; secretsql reads both from
// the environment. The pool is opened once per execution environment and
// kept across invocations; the extension caches the secret for every
// invocation (SECRETS_MANAGER_TTL, 300 s by default), and after a rejected
// login secretsql asks it for the new version with refreshNow=true.
package main

import (
	"context"
	"database/sql"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	_ "github.com/secretsql/secretsql/engines/postgres" // secretsmanager-postgres
)

// Request is the function's input.
type Request struct {
	Name string `json:"name"`
}

// Response is the function's output.
type Response struct {
	Greeting string `json:"greeting"`
	User     string `json:"db_user"`
}

var (
	once  sync.Once
	db    *sql.DB
	dbErr error
)

// pool opens the pool on the first invocation of the execution environment.
func pool() (*sql.DB, error) {
	once.Do(func() {
		dsn := os.Getenv("DB_DSN")
		if dsn == "" {
			dsn = "prod/app?source=agent"
		}
		db, dbErr = sql.Open("secretsmanager-postgres", dsn)
		if dbErr == nil {
			// A Lambda execution environment runs one invocation at a
			// time: a few connections, renewed now and then.
			db.SetMaxOpenConns(2)
			db.SetConnMaxLifetime(5 * time.Minute)
		}
	})
	return db, dbErr
}

// handler answers one invocation.
func handler(ctx context.Context, req Request) (Response, error) {
	db, err := pool()
	if err != nil {
		return Response{}, err
	}
	var resp Response
	err = db.QueryRowContext(ctx, "SELECT 'hello, ' || $1::text, current_user", req.Name).Scan(&resp.Greeting, &resp.User)
	return resp, err
}

func main() { lambda.Start(handler) }
