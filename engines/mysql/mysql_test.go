package mysql

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/drivertest"
	"github.com/secretsql/secretsql/internal/testdb"
)

// buildConfig prepares params, as sql.Open does, and completes the Config
// with c, as the first connect with a version of the credentials does.
func buildConfig(c secretsql.Credentials, params url.Values) (*mysql.Config, error) {
	base, err := prepare(params)
	if err != nil {
		return nil, err
	}
	return config(base, c), nil
}

func TestConfig(t *testing.T) {
	c := secretsql.Credentials{Host: "::1", Port: 3307, Username: "us:er@x", Database: "my db/x"}.WithPassword(`p@ss/w:o?r#d%41 ;'"\`)
	cfg, err := buildConfig(c, url.Values{"parseTime": {"true"}, "timeout": {"3s"}, "loc": {"Europe/Paris"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "[::1]:3307" || cfg.Net != "tcp" || cfg.User != c.Username || cfg.Passwd != c.Password() || cfg.DBName != c.Database {
		t.Fatalf("config = %s %s %s %s", cfg.Net, cfg.Addr, cfg.User, cfg.DBName)
	}
	if !cfg.ParseTime || cfg.Timeout != 3*time.Second || cfg.Loc.String() != "Europe/Paris" || !cfg.AllowNativePasswords {
		t.Fatalf("parameters/defaults not applied: %+v", cfg)
	}
}

// TestConfigPerVersion builds two versions of the credentials from one
// prepared Config: neither sees the other's address or credentials, and
// the TLS server name follows each version's host.
func TestConfigPerVersion(t *testing.T) {
	base, err := prepare(url.Values{"tls": {"true"}, "parseTime": {"true"}})
	if err != nil {
		t.Fatal(err)
	}
	c1 := secretsql.Credentials{Host: "db1.example.com", Port: 3306, Username: "u1", Database: "d1"}.WithPassword("pw-one")
	c2 := secretsql.Credentials{Host: "db2.example.com", Port: 3307, Username: "u2", Database: "d2"}.WithPassword("pw-two")
	cfg1, cfg2 := config(base, c1), config(base, c2)
	for _, tc := range []struct {
		cfg *mysql.Config
		c   secretsql.Credentials
	}{{cfg1, c1}, {cfg2, c2}} {
		if tc.cfg.Addr != net.JoinHostPort(tc.c.Host, strconv.Itoa(tc.c.Port)) || tc.cfg.User != tc.c.Username ||
			tc.cfg.Passwd != tc.c.Password() || tc.cfg.DBName != tc.c.Database || !tc.cfg.ParseTime {
			t.Errorf("config for %v = %s user %s database %s", tc.c, tc.cfg.Addr, tc.cfg.User, tc.cfg.DBName)
		}
		// What go-sql-driver/mysql derives the TLS configuration from.
		again, err := mysql.ParseDSN(tc.cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		if again.TLS == nil || again.TLS.ServerName != tc.c.Host {
			t.Errorf("TLS for %v: %+v, want server name %q", tc.c, again.TLS, tc.c.Host)
		}
	}
	if base.base.User != "" || base.base.Passwd != "" || base.base.DBName != "" {
		t.Errorf("the prepared Config was changed: user %q database %q", base.base.User, base.base.DBName)
	}
}

func TestConfigRejects(t *testing.T) {
	c := secretsql.Credentials{Host: "h", Port: 3306, Username: "u"}.WithPassword("secret-pw")
	for _, p := range []url.Values{
		{"user": {"x"}}, {"password": {"x"}}, {"passwd": {"x"}}, {"net": {"unix"}}, {"addr": {"x:1"}},
		{"parseTime": {"maybe"}}, {"timeout": {"soon"}}, {"tls": {"no-such-config"}}, {"loc": {"Mars/Base"}}, {"a": {"1", "2"}},
	} {
		t.Run(p.Encode(), func(t *testing.T) {
			_, err := drivertest.Build(mysqlEngine, c, p)
			drivertest.CheckDSNError(t, err, "", c.Password())
		})
	}
}

// TestConfigHostileHosts feeds the engine hosts that secretsql's root
// refuses before any engine sees them: the engine may refuse them too, or
// build a Config for exactly that address, never for another.
func TestConfigHostileHosts(t *testing.T) {
	for _, host := range []string{".", "(local)", "a b", "a/b", "u@h", "tcp:x", "[::1]", "h)x", "::1%a/b", "h:1", "unix(/tmp/s)"} {
		c := secretsql.Credentials{Host: host, Port: 3306, Username: "u", Database: "d"}.WithPassword("hunter2-secret")
		checkBuilt(t, c, nil)
	}
}

// checkBuilt builds the Config for c and params and checks that it either
// failed with an error of secretsql's own that does not depend on the
// password, or holds exactly c's address, credentials and database.
func checkBuilt(t *testing.T, c secretsql.Credentials, params url.Values) (*mysql.Config, bool) {
	t.Helper()
	cfg, err := buildConfig(c, params)
	if err != nil {
		if !drivertest.IsValueError(err) {
			t.Fatalf("buildConfig(%v, %v): %v is neither a SecretError nor a DSNError", c, params, err)
		}
		drivertest.CheckPasswordFree(t, err, c, func(c secretsql.Credentials) error {
			_, err := buildConfig(c, params)
			return err
		})
		return nil, false
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	if cfg.User != c.Username || cfg.Passwd != c.Password() || cfg.Addr != addr || cfg.DBName != c.Database || cfg.Net != "tcp" {
		t.Fatalf("buildConfig(%v, %v) = user %q, password-equal %v, %s(%s), database %q",
			c, params, cfg.User, cfg.Passwd == c.Password(), cfg.Net, cfg.Addr, cfg.DBName)
	}
	return cfg, true
}

func TestIsAuthError(t *testing.T) {
	for n, want := range map[uint16]bool{1044: true, 1045: true, 1698: true, 1862: true, 3118: true, 1049: false, 1129: false, 1130: false, 1040: false} {
		err := fmt.Errorf("x: %w", &mysql.MySQLError{Number: n})
		if got := (mysqlEngine).IsAuthError(err); got != want {
			t.Errorf("%d: IsAuthError = %v, want %v", n, got, want)
		}
	}
	if (mysqlEngine).IsAuthError(errors.New("Error 1045 (28000): Access denied")) {
		t.Error("classified by message text")
	}
}

func TestRealErrorsClassified(t *testing.T) {
	db := testdb.MariaDB(t)
	for _, tt := range []struct {
		c    secretsql.Credentials
		auth bool
	}{
		{secretsql.Credentials{Host: db.Host, Port: db.Port, Username: db.User, Database: db.Database}.WithPassword("wrong"), true},
		{secretsql.Credentials{Host: db.Host, Port: db.Port, Username: db.User, Database: "no_such_db_sqt"}.WithPassword(db.Password), true}, // 1044: no grant on it
	} {
		nc, err := drivertest.Build(mysqlEngine, tt.c, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = nc.Connect(context.Background())
		if err == nil || (mysqlEngine).IsAuthError(err) != tt.auth {
			t.Errorf("%s: err = %v, want auth = %v", tt.c.Database, err, tt.auth)
		}
	}
}
