package postgres

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secretsql/secretsql"
)

// FuzzConfigRoundTrip: whatever the credentials, the engine either rejects
// them with an error that never depends on the password, or pgx's
// own parser gives back exactly the host, port, user, password and database
// of the secret. The inputs are limited to what secretsql's resolve can pass
// (a non-empty trimmed host, a port in 1-65535, a non-empty user and
// password). Host, database and parameters may hold any bytes: the DSN's
// host=, dbname= and pass-through keys are percent-decoded.
func FuzzConfigRoundTrip(f *testing.F) {
	seeds := []secretsql.Credentials{
		secretsql.Credentials{Host: "db.example.com", Port: 5432, Username: "app", Database: "postgres"}.WithPassword("plain"),
		secretsql.Credentials{Host: "127.0.0.1", Port: 1, Username: "us:er", Database: "app db"}.WithPassword("p@ss/word"),
		secretsql.Credentials{Host: "::1", Port: 65535, Username: "user@corp", Database: "a/b"}.WithPassword(`a:b@c/d?e#f%g h`),
		secretsql.Credentials{Host: "fe80::1", Port: 5433, Username: `u'"\`, Database: `x'y\z`}.WithPassword(`semi;colon{brace}}'q"uo\te`),
		secretsql.Credentials{Host: "db-1.internal", Port: 5432, Username: "ünïcödé", Database: "données"}.WithPassword("pässwörd€ß漢字"),
		secretsql.Credentials{Host: "localhost", Port: 5432, Username: "x", Database: " spaced "}.WithPassword(" lead and trail "),
		secretsql.Credentials{Host: "h", Port: 5432, Username: "x", Database: "=x y="}.WithPassword("😀 emoji"),
		secretsql.Credentials{Host: "/var/run/postgresql", Port: 5432, Username: "x", Database: "d"}.WithPassword("pw"),
		secretsql.Credentials{Host: "a,b", Port: 5432, Username: "x", Database: "d"}.WithPassword("pw"),
		secretsql.Credentials{Host: "h", Port: 5432, Username: "x", Database: "db\xff"}.WithPassword("pw"),
	}
	for _, c := range seeds {
		f.Add(c.Host, uint16(c.Port), c.Username, c.Password(), c.Database, "", "")
	}
	f.Add("h", uint16(5432), "u", "p", "d", "sslmode", "disable")
	f.Add("h", uint16(5432), "u", "p", "d", "application_name", "it's \\ me")
	f.Add("h", uint16(5432), "u", "p", "d", "connect_timeout", "x")
	f.Add("h", uint16(5432), "u", "p", "d", "password", "p2")
	f.Add("h", uint16(5432), "u", "p", "d", "target_session_attrs", "read-write")
	f.Add("h", uint16(5432), "u", "p", "d", "database", "other")
	f.Fuzz(func(t *testing.T, host string, port uint16, user, password, database, key, value string) {
		host = strings.TrimSpace(host)
		if host == "" || port == 0 || user == "" || password == "" {
			return
		}
		switch strings.ToLower(key) {
		case "region", "endpoint", "host", "port", "dbname", "stage", "ttl":
			return // secretsql's own DSN keys never reach the engine
		}
		c := secretsql.Credentials{Host: host, Port: int(port), Username: user, Database: database}.WithPassword(password)
		var params url.Values
		if key != "" {
			params = url.Values{key: {value}}
		}
		cfg, err := configOf(c, params)
		if err != nil {
			if !errors.Is(err, secretsql.ErrInvalidDSN) && !errors.Is(err, secretsql.ErrMalformedSecret) && !isParseError(err) {
				t.Fatalf("config(%v, %v): error %v is neither a DSN, a secret nor pgx's parse error", c, params, err)
			}
			// The error must not depend on the password in any way (a
			// substring check would trip on passwords that also occur in
			// the other, non-secret inputs the error may quote).
			c2 := c.WithPassword("another password")
			if _, err2 := configOf(c2, params); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("config(%v, %v): the error depends on the password: %v vs %v", c, params, err, err2)
			}
			return
		}
		if cfg.Host != c.Host || cfg.Port != port || cfg.User != c.Username || cfg.Password != c.Password() || cfg.Database != c.Database {
			t.Fatalf("config(%v, %v): pgx parsed host=%q port=%d user=%q password-equal=%v database=%q",
				c, params, cfg.Host, cfg.Port, cfg.User, cfg.Password == c.Password(), cfg.Database)
		}
		// sslmode=prefer makes a fallback without TLS; any other host is
		// not the secret's.
		for _, fb := range cfg.Fallbacks {
			if fb.Host != c.Host || fb.Port != port {
				t.Fatalf("config(%v, %v): pgx falls back to host %q port %d", c, params, fb.Host, fb.Port)
			}
		}
	})
}

// isParseError reports pgx's own error for a connection string it cannot
// parse (a host secretsql would have refused before, for instance).
func isParseError(err error) bool {
	var pe *pgconn.ParseConfigError
	return errors.As(err, &pe)
}
