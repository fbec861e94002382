package oracle_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/secretsql/secretsql"
	_ "github.com/secretsql/secretsql/engines/oracle"
	"github.com/secretsql/secretsql/smtest"
)

// closedPort returns a loopback port with nothing listening on it.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func oracleSecret(t *testing.T, port int, dbname string) string {
	t.Helper()
	m := map[string]any{"engine": "oracle-ee", "host": "127.0.0.1", "port": port, "username": "scott", "password": "t1ger/@:x"}
	if dbname != "" {
		m["dbname"] = dbname
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConnectRefused connects through secretsql to a port nobody listens on:
// the error is go-ora's network error, not an authentication failure, so the
// secret is read once and never again.
func TestConnectRefused(t *testing.T) {
	sm := smtest.NewServer()
	defer sm.Close()
	arn := sm.CreateSecret("prod/oracle", oracleSecret(t, closedPort(t), "ORCLPDB1"))
	c, err := secretsql.NewConnector("oracle", arn+"?CONNECT+TIMEOUT=5", secretsql.WithClient(sm.Client()))
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	db := sql.OpenDB(c)
	defer db.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 3 {
		err = db.PingContext(ctx)
		if err == nil {
			t.Fatal("Ping to a closed port succeeded")
		}
		if errors.Is(err, secretsql.ErrAuthFailed) {
			t.Fatalf("a refused connection was reported as an authentication failure: %v", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) && !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Ping: %v (%T), want a network error", err, err)
		}
		if strings.Contains(err.Error(), "t1ger") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	if calls := sm.Calls("GetSecretValue"); calls != 1 {
		t.Errorf("GetSecretValue calls = %d, want exactly 1", calls)
	}
	t.Logf("closed port: %v; %d GetSecretValue call(s)", err, sm.Calls("GetSecretValue"))
}

// TestMissingServiceName reads a secret without dbname: the DSN opens (the
// options are fine) and the connect fails with a SecretError for dbname
// (ErrMissingKey), without touching the network; dbname in the DSN fixes it.
func TestMissingServiceName(t *testing.T) {
	sm := smtest.NewServer()
	defer sm.Close()
	arn := sm.CreateSecret("prod/oracle-nodb", oracleSecret(t, closedPort(t), ""))

	c, err := secretsql.NewConnector("oracle", arn+"?SSL=false", secretsql.WithClient(sm.Client()))
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	err = db.PingContext(context.Background())
	var se *secretsql.SecretError
	if !errors.Is(err, secretsql.ErrMissingKey) || !errors.As(err, &se) || se.Key != "dbname" || se.SecretARN != arn {
		t.Fatalf("Ping: %v, want a SecretError for dbname of %s matching ErrMissingKey", err, arn)
	}
	if strings.Contains(err.Error(), "t1ger") {
		t.Errorf("the error shows the password: %v", err)
	}

	c2, err := secretsql.NewConnector("oracle", arn+"?dbname=ORCLPDB1&CONNECT+TIMEOUT=5", secretsql.WithClient(sm.Client()))
	if err != nil {
		t.Fatal(err)
	}
	db2 := sql.OpenDB(c2)
	defer db2.Close()
	err = db2.PingContext(context.Background())
	if err == nil || errors.Is(err, secretsql.ErrMissingKey) || errors.Is(err, secretsql.ErrAuthFailed) {
		t.Errorf("Ping with dbname in the DSN: %v, want a network error", err)
	}
}

// TestBadOptions checks that unknown, malformed and credential-carrying
// options fail when the DSN is opened, before any secret is read.
func TestBadOptions(t *testing.T) {
	sm := smtest.NewServer()
	defer sm.Close()
	arn := sm.CreateSecret("prod/oracle", oracleSecret(t, 1521, "ORCLPDB1"))
	for _, q := range []string{"SSL+VERIFYY=true", "CONNECT+TIMEOUT=soon", "PASSWORD=x", "OS+PASSWORD=x", "connStr=x"} {
		_, err := secretsql.NewConnector("oracle", arn+"?"+q, secretsql.WithClient(sm.Client()))
		if !errors.Is(err, secretsql.ErrInvalidDSN) {
			t.Errorf("%s: %v, want ErrInvalidDSN", q, err)
		}
	}
	if _, err := sql.Open("secretsmanager-oracle", arn+"?LOB+FETCH=later"); !errors.Is(err, secretsql.ErrInvalidDSN) {
		// sql.Open calls the driver's OpenConnector, which checks the options.
		t.Errorf("sql.Open with a bad option: %v, want ErrInvalidDSN", err)
	}
	if calls := sm.Calls("GetSecretValue"); calls != 0 {
		t.Errorf("GetSecretValue calls = %d, want 0", calls)
	}
}
