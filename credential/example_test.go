package credential_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/credential"
	_ "github.com/secretsql/secretsql/engines/postgres"
)

// rotatingSource hands out a password that changes every minute, valid
// until the end of its minute (a source of your own: a vault, a token
// service, a sidecar's API).
type rotatingSource struct {
	reads atomic.Int64
	now   func() time.Time
}

func (s *rotatingSource) Fetch(_ context.Context, r credential.Request) (credential.Credential, error) {
	s.reads.Add(1)
	minute := s.now().Truncate(time.Minute)
	c := credential.Credential{
		Username: "app",
		Version:  strconv.FormatInt(minute.Unix(), 10),
		Expiry:   minute.Add(time.Minute),
	}
	return c.WithPassword("pw-" + minute.Format("1504")), nil
}

// Describe shares the cache between readers of this source and declares
// that a read after a rejected login costs nothing (no rate limit).
func (s *rotatingSource) Describe() credential.Description {
	return credential.Description{Name: "rotating", Identity: "rotating-example", MinInterval: 0}
}

// A source of your own behind secretsql's cache: Resolve reads it once and
// shows what a connect would use (the password never prints).
func Example() {
	src := &rotatingSource{now: time.Now}
	c, err := secretsql.NewConnector("postgres", "?host=db.internal&dbname=app&sslmode=verify-full",
		secretsql.WithSource(src), secretsql.WithCache(secretsql.NewCache()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	for range 3 {
		r, err := c.Resolve(context.Background())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(r.Credentials, r.Credentials.Expiry.After(time.Now()))
	}
	fmt.Println("reads:", src.reads.Load())
	// Output:
	// {Host:db.internal Port:5432 Username:app Password:[REDACTED] Database:app} true
	// {Host:db.internal Port:5432 Username:app Password:[REDACTED] Database:app} true
	// {Host:db.internal Port:5432 Username:app Password:[REDACTED] Database:app} true
	// reads: 1
}
