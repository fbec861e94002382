package main

import (
	"context"
	"net"
	"testing"

	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// TestHandlerThroughExtension invokes the handler as the Lambda runtime
// would, with the extension emulated by smtest's agent front (the HTTP API
// of the AWS Parameters and Secrets Lambda Extension) and its environment:
// PARAMETERS_SECRETS_EXTENSION_HTTP_PORT and the function's
// AWS_SESSION_TOKEN as the SSRF token. No AWS credentials are set for the
// function itself. Then a rotation's setSecret step changes the password
// with AWSPENDING holding it: the next invocation still succeeds.
func TestHandlerThroughExtension(t *testing.T) {
	db := testdb.Postgres(t)
	sm := smtest.NewServer()
	defer sm.Close()
	sm.CreateSecret("prod/app", db.SecretJSON())
	ext := smtest.NewAgent(sm)
	defer ext.Close()
	_, port, err := net.SplitHostPort(ext.Addr)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": port,
		"AWS_SESSION_TOKEN":                      ext.Token,
		"AWS_LAMBDA_FUNCTION_NAME":               "lambda-example", // set by the Lambda runtime
		"AWS_TOKEN":                              "",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN":      "",
		"AWS_ACCESS_KEY_ID":                      "",
		"AWS_SECRET_ACCESS_KEY":                  "",
		"DB_DSN":                                 "prod/app?source=agent&sslmode=disable",
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	for i := range 5 {
		resp, err := handler(ctx, Request{Name: "lambda"})
		if err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
		if resp.Greeting != "hello, lambda" || resp.User != db.User {
			t.Fatalf("invocation %d: %+v", i, resp)
		}
	}
	if n := sm.Calls("GetSecretValue"); n != 1 {
		t.Errorf("5 invocations: %d GetSecretValue calls by the extension, want 1", n)
	}

	// setSecret of a rotation: AWSPENDING holds the new password, which
	// the database now expects.
	pw := testdb.RandomPassword()
	sm.PutSecretString("prod/app", db.SecretJSONFor(db.User, pw), "AWSPENDING")
	if err := db.SetPassword(ctx, db.User, pw); err != nil {
		t.Fatal(err)
	}
	pool, _ := pool()
	pool.SetMaxIdleConns(0) // the next invocation logs in
	if _, err := handler(ctx, Request{Name: "rotation"}); err != nil {
		t.Fatalf("invocation during the rotation: %v", err)
	}
}
