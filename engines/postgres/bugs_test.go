package postgres

import (
	"database/sql"
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/smtest"
)

// Regression tests for the bugs FuzzConfigRoundTrip found (fixed in
// 36e3edf, "engines/postgres: reject a host list and the database alias,
// keep bytes as they are").

// TestBugHostList: a secret (or DSN) host holding a comma is read by pgx as
// a list of hosts, so the connection may go to a host that is not the
// secret's. Fixed twice over: secretsql refuses such a host before an
// engine sees it, and config's read-back refuses any host pgx does not
// give back unchanged.
func TestBugHostList(t *testing.T) {
	c := secretsql.Credentials{Host: "db.internal,evil.example", Port: 5432, Username: "u", Database: "d"}.WithPassword("p")
	cfg, err := configOf(c, nil)
	var se *secretsql.SecretError
	if !errors.As(err, &se) || se.Key != "host" {
		t.Errorf("config(host %q) = %v (pgx host %q), want a SecretError for the host", c.Host, err, hostOf(cfg))
	}
}

func hostOf(cfg *pgx.ConnConfig) string {
	if cfg == nil {
		return ""
	}
	return cfg.Host
}

// TestBugDatabaseAlias: the pass-through key "database" is pgx's alias of
// dbname and silently replaces the secret's (and the DSN's dbname)
// database. Fix: add "database": "use dbname=… to override the secret's
// database" to the reserved map.
func TestBugDatabaseAlias(t *testing.T) {
	c := secretsql.Credentials{Host: "h", Port: 5432, Username: "u", Database: "fromsecret"}.WithPassword("p")
	cfg, err := configOf(c, url.Values{"database": {"other"}})
	if err == nil && cfg.Database != c.Database {
		t.Errorf("database=other: pgx connects to database %q, not the secret's %q", cfg.Database, c.Database)
	}
	if err != nil && !errors.Is(err, secretsql.ErrInvalidDSN) {
		t.Errorf("database=other: %v does not match ErrInvalidDSN", err)
	}
}

// TestBugInvalidUTF8: kv copies values rune by rune, so a byte that is not
// UTF-8 (possible through the DSN: dbname=%ff, host=%ff, or a pass-through
// value) becomes U+FFFD and pgx targets another database. Fix: in kv, copy
// bytes (for i := 0; i < len(v); i++ { … b.WriteByte(v[i]) }) or reject
// invalid UTF-8 with a DSNError.
func TestBugInvalidUTF8(t *testing.T) {
	c := secretsql.Credentials{Host: "h", Port: 5432, Username: "u", Database: "db\xff"}.WithPassword("p")
	cfg, err := configOf(c, nil)
	if err == nil && cfg.Database != c.Database {
		t.Errorf("database %q reaches pgx as %q", c.Database, cfg.Database)
	}
}

// TestSocketHostRefused (issue 15, item 1): a secret whose host is a
// directory made pgx connect through a Unix socket, where the DSN's
// sslmode=verify-full was silently not applied: the connection succeeded
// without TLS. A secret's host must be a host name or an IP address.
func TestSocketHostRefused(t *testing.T) {
	const dir = "/var/run/postgresql" // the socket directory of Debian's PostgreSQL
	sm := smtest.NewServer()
	defer sm.Close()
	sm.CreateSecret("sock", `{"engine":"postgres","host":"`+dir+`","port":5432,"username":"postgres","password":"unused","dbname":"postgres"}`)
	c, err := secretsql.NewConnector("postgres", "sock?sslmode=verify-full", secretsql.WithClient(sm.Client()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	err = db.Ping()
	if err == nil {
		t.Fatal("connected through the Unix socket, without the TLS the DSN asks for")
	}
	var se *secretsql.SecretError
	if !errors.As(err, &se) || se.Key != "host" || !errors.Is(err, secretsql.ErrMalformedSecret) {
		t.Fatalf("err = %v, want a SecretError for the key host", err)
	}
}
