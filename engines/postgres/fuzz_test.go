package postgres

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/secretsql/secretsql"
)

// FuzzConfigRoundTrip: whatever the credentials, the engine either rejects
// them with a *secretsql.DSNError that never mentions the password, or pgx's
// own parser gives back exactly the host, port, user, password and database
// of the secret. The inputs are limited to what secretsql's resolve can pass
// (a non-empty trimmed host, a port in 1-65535, a non-empty user and
// password). Host, database and parameters may hold any bytes: the DSN's
// host=, dbname= and pass-through keys are percent-decoded.
func FuzzConfigRoundTrip(f *testing.F) {
	seeds := []secretsql.Credentials{
		{Host: "db.example.com", Port: 5432, Username: "app", Password: "plain", Database: "postgres"},
		{Host: "127.0.0.1", Port: 1, Username: "us:er", Password: "p@ss/word", Database: "app db"},
		{Host: "::1", Port: 65535, Username: "user@corp", Password: `a:b@c/d?e#f%g h`, Database: "a/b"},
		{Host: "fe80::1", Port: 5433, Username: `u'"\`, Password: `semi;colon{brace}}'q"uo\te`, Database: `x'y\z`},
		{Host: "db-1.internal", Port: 5432, Username: "ünïcödé", Password: "pässwörd€ß漢字", Database: "données"},
		{Host: "localhost", Port: 5432, Username: "x", Password: " lead and trail ", Database: " spaced "},
		{Host: "h", Port: 5432, Username: "x", Password: "😀 emoji", Database: "=x y="},
		{Host: "/var/run/postgresql", Port: 5432, Username: "x", Password: "pw", Database: "d"},
		{Host: "a,b", Port: 5432, Username: "x", Password: "pw", Database: "d"},
		{Host: "h", Port: 5432, Username: "x", Password: "pw", Database: "db\xff"},
	}
	for _, c := range seeds {
		f.Add(c.Host, uint16(c.Port), c.Username, c.Password, c.Database, "", "")
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
		c := secretsql.Credentials{Host: host, Port: int(port), Username: user, Password: password, Database: database}
		var params url.Values
		if key != "" {
			params = url.Values{key: {value}}
		}
		cfg, err := Engine{}.config(c, params)
		if err != nil {
			if !errors.Is(err, secretsql.ErrInvalidDSN) {
				t.Fatalf("config(%v, %v): error %v does not match ErrInvalidDSN", c, params, err)
			}
			// The error must not depend on the password in any way (a
			// substring check would trip on passwords that also occur in
			// the other, non-secret inputs the error may quote).
			c2 := c
			c2.Password = "another password"
			if _, err2 := (Engine{}).config(c2, params); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("config(%v, %v): the error depends on the password: %v vs %v", c, params, err, err2)
			}
			return
		}
		if cfg.Host != c.Host || cfg.Port != port || cfg.User != c.Username || cfg.Password != c.Password || cfg.Database != c.Database {
			t.Fatalf("config(%v, %v): pgx parsed host=%q port=%d user=%q password-equal=%v database=%q",
				c, params, cfg.Host, cfg.Port, cfg.User, cfg.Password == c.Password, cfg.Database)
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
