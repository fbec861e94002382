package mysql

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/drivertest"
)

// FuzzConfigRoundTrip: whatever the credentials, building the Config
// either fails with a *secretsql.SecretError or *secretsql.DSNError that
// does not depend on the password, or returns a *mysql.Config with exactly
// the secret's user, password, address and database. Where
// go-sql-driver/mysql can carry them in a DSN at all (a user name without
// ':', a host secretsql's root lets through), cfg.FormatDSN re-parsed by
// mysql.ParseDSN gives them back too; secretsql never formats a DSN, so
// that part checks only that the Config is an ordinary one. Hosts are not
// limited to those the root lets through: the engine must not target
// another host even when called directly. The other inputs are limited to
// what secretsql's resolve can pass (a non-empty host, port 1-65535, non-empty user and
// password, valid UTF-8 for the secret's values).
func FuzzConfigRoundTrip(f *testing.F) {
	seeds := []secretsql.Credentials{
		secretsql.Credentials{Host: "db.example.com", Port: 3306, Username: "app", Database: ""}.WithPassword("plain"),
		secretsql.Credentials{Host: "127.0.0.1", Port: 1, Username: "user@corp", Database: "app db"}.WithPassword("p@ss/word"),
		secretsql.Credentials{Host: "::1", Port: 65535, Username: "u/x", Database: "a/b"}.WithPassword(`a:b@c/d?e#f%g h`),
		secretsql.Credentials{Host: "fe80::1", Port: 3307, Username: `u'"\`, Database: `x?y=z&w`}.WithPassword(`semi;colon{brace}}'q"uo\te`),
		secretsql.Credentials{Host: "fe80::1%eth0", Port: 3306, Username: "ünïcödé", Database: "données"}.WithPassword("pässwörd€ß漢字"),
		secretsql.Credentials{Host: "localhost", Port: 3306, Username: "x", Database: " spaced "}.WithPassword(" lead and trail )("),
		secretsql.Credentials{Host: "h", Port: 3306, Username: "us:er", Database: "%41+b"}.WithPassword("😀 emoji"),
		secretsql.Credentials{Host: "h)x", Port: 3306, Username: "u", Database: "d"}.WithPassword("p"),
	}
	for _, c := range seeds {
		f.Add(c.Host, uint16(c.Port), c.Username, c.Password(), c.Database, "", "")
	}
	f.Add("h", uint16(3306), "u", "p", "d", "parseTime", "true")
	f.Add("h", uint16(3306), "u", "p", "d", "tls", "bogus")
	f.Add("h", uint16(3306), "u", "p", "d", "loc", "Europe/Paris")
	f.Add("h", uint16(3306), "u", "p", "d", "passwd", "p2")
	f.Fuzz(func(t *testing.T, host string, port uint16, user, password, database, key, value string) {
		host = strings.TrimSpace(host)
		if host == "" || port == 0 || user == "" || password == "" || !allUTF8(host, user, password) {
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
		cfg, ok := checkBuilt(t, c, params)
		if !ok {
			return
		}
		if _, err := mysql.NewConnector(cfg); err != nil {
			t.Fatalf("config(%v, %v): mysql.NewConnector: %v", c, params, err)
		}
		if strings.Contains(user, ":") || !drivertest.RootAcceptsHost(host) {
			return // go-sql-driver/mysql: FormatDSN cannot carry it
		}
		again, err := mysql.ParseDSN(cfg.FormatDSN())
		if err != nil {
			t.Fatalf("config(%v, %v): ParseDSN(FormatDSN()): %v", c, params, err)
		}
		if again.User != user || again.Passwd != password || again.Addr != cfg.Addr || again.DBName != database {
			t.Fatalf("config(%v, %v): FormatDSN re-parsed = user %q, password-equal %v, addr %q, database %q",
				c, params, again.User, again.Passwd == password, again.Addr, again.DBName)
		}
	})
}

func allUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
