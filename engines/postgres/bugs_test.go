package postgres

import (
	"errors"
	"net/url"
	"testing"

	"github.com/secretsql/secretsql"
)

// Regression tests for the bugs FuzzConfigRoundTrip found (fixed in
// 36e3edf, "engines/postgres: reject a host list and the database alias,
// keep bytes as they are").

// TestBugHostList: a secret (or DSN) host holding a comma is read by pgx as
// a list of hosts, so the connection may go to a host that is not the
// secret's. Fix: in config, reject a host containing ',' with
// &secretsql.DSNError{Key: "host", Reason: "…is not a host name or IP address"}.
func TestBugHostList(t *testing.T) {
	c := secretsql.Credentials{Host: "db.internal,evil.example", Port: 5432, Username: "u", Database: "d"}.WithPassword("p")
	cfg, err := configOf(c, nil)
	if err == nil && cfg.Host != c.Host {
		t.Errorf("config accepted host %q and pgx connects to %q (then %d fallbacks)", c.Host, cfg.Host, len(cfg.Fallbacks))
	}
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
