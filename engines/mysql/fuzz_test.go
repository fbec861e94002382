package mysql

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"

	"github.com/secretsql/secretsql"
)

// FuzzConfigRoundTrip: whatever the credentials, config either rejects them
// with a *secretsql.DSNError that never mentions the password, or returns a
// *mysql.Config with exactly the secret's user, password, address and
// database. Where go-sql-driver/mysql can carry them in a DSN at all (a user
// name without ':'), cfg.FormatDSN re-parsed by mysql.ParseDSN gives them
// back too; secretsql never formats a DSN, so that part checks only that the
// Config is an ordinary one. Inputs are limited to what secretsql's resolve
// can pass (non-empty trimmed host, port 1-65535, non-empty user and
// password, valid UTF-8 for the secret's values).
func FuzzConfigRoundTrip(f *testing.F) {
	seeds := []secretsql.Credentials{
		{Host: "db.example.com", Port: 3306, Username: "app", Password: "plain", Database: ""},
		{Host: "127.0.0.1", Port: 1, Username: "user@corp", Password: "p@ss/word", Database: "app db"},
		{Host: "::1", Port: 65535, Username: "u/x", Password: `a:b@c/d?e#f%g h`, Database: "a/b"},
		{Host: "fe80::1", Port: 3307, Username: `u'"\`, Password: `semi;colon{brace}}'q"uo\te`, Database: `x?y=z&w`},
		{Host: "fe80::1%eth0", Port: 3306, Username: "ünïcödé", Password: "pässwörd€ß漢字", Database: "données"},
		{Host: "localhost", Port: 3306, Username: "x", Password: " lead and trail )(", Database: " spaced "},
		{Host: "h", Port: 3306, Username: "us:er", Password: "😀 emoji", Database: "%41+b"},
		{Host: "h)x", Port: 3306, Username: "u", Password: "p", Database: "d"},
	}
	for _, c := range seeds {
		f.Add(c.Host, uint16(c.Port), c.Username, c.Password, c.Database, "", "")
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
		c := secretsql.Credentials{Host: host, Port: int(port), Username: user, Password: password, Database: database}
		var params url.Values
		if key != "" {
			params = url.Values{key: {value}}
		}
		cfg, err := config(c, params)
		if err != nil {
			if !errors.Is(err, secretsql.ErrInvalidDSN) {
				t.Fatalf("config(%v, %v): error %v does not match ErrInvalidDSN", c, params, err)
			}
			// The error must not depend on the password in any way (a
			// substring check would trip on passwords that also occur in
			// the other, non-secret inputs the error may quote).
			c2 := c
			c2.Password = "another password"
			if _, err2 := config(c2, params); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("config(%v, %v): the error depends on the password: %v vs %v", c, params, err, err2)
			}
			return
		}
		addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
		if cfg.User != user || cfg.Passwd != password || cfg.Addr != addr || cfg.DBName != database || cfg.Net != "tcp" {
			t.Fatalf("config(%v, %v) = user %q, password-equal %v, %s(%s), database %q",
				c, params, cfg.User, cfg.Passwd == password, cfg.Net, cfg.Addr, cfg.DBName)
		}
		if _, err := mysql.NewConnector(cfg); err != nil {
			t.Fatalf("config(%v, %v): mysql.NewConnector: %v", c, params, err)
		}
		if strings.Contains(user, ":") {
			return // go-sql-driver/mysql: FormatDSN cannot carry it
		}
		again, err := mysql.ParseDSN(cfg.FormatDSN())
		if err != nil {
			t.Fatalf("config(%v, %v): ParseDSN(FormatDSN()): %v", c, params, err)
		}
		if again.User != user || again.Passwd != password || again.Addr != addr || again.DBName != database {
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
