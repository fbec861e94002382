package mysql

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/testdb"
)

func TestConfig(t *testing.T) {
	c := secretsql.Credentials{Host: "::1", Port: 3307, Username: "us:er@x", Password: `p@ss/w:o?r#d%41 ;'"\`, Database: "my db/x"}
	cfg, err := config(c, url.Values{"parseTime": {"true"}, "timeout": {"3s"}, "loc": {"Europe/Paris"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "[::1]:3307" || cfg.Net != "tcp" || cfg.User != c.Username || cfg.Passwd != c.Password || cfg.DBName != c.Database {
		t.Fatalf("config = %s %s %s %s", cfg.Net, cfg.Addr, cfg.User, cfg.DBName)
	}
	if !cfg.ParseTime || cfg.Timeout != 3*time.Second || cfg.Loc.String() != "Europe/Paris" || !cfg.AllowNativePasswords {
		t.Fatalf("parameters/defaults not applied: %+v", cfg)
	}
}

func TestConfigRejects(t *testing.T) {
	c := secretsql.Credentials{Host: "h", Port: 3306, Username: "u", Password: "secret-pw"}
	for _, p := range []url.Values{
		{"user": {"x"}}, {"password": {"x"}}, {"passwd": {"x"}}, {"net": {"unix"}}, {"addr": {"x:1"}},
		{"parseTime": {"maybe"}}, {"timeout": {"soon"}}, {"tls": {"no-such-config"}}, {"loc": {"Mars/Base"}}, {"a": {"1", "2"}},
	} {
		_, err := Engine{}.NewConnector(c, p)
		if !errors.Is(err, secretsql.ErrInvalidDSN) {
			t.Errorf("%v: err = %v, want ErrInvalidDSN", p, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("error reveals the password: %v", err)
		}
	}
}

func TestIsAuthError(t *testing.T) {
	for n, want := range map[uint16]bool{1044: true, 1045: true, 1698: true, 1862: true, 3118: true, 1049: false, 1129: false, 1130: false, 1040: false} {
		err := fmt.Errorf("x: %w", &mysql.MySQLError{Number: n})
		if got := (Engine{}).IsAuthError(err); got != want {
			t.Errorf("%d: IsAuthError = %v, want %v", n, got, want)
		}
	}
	if (Engine{}).IsAuthError(errors.New("Error 1045 (28000): Access denied")) {
		t.Error("classified by message text")
	}
}

func TestRealErrorsClassified(t *testing.T) {
	db := testdb.MariaDB(t)
	for _, tt := range []struct {
		c    secretsql.Credentials
		auth bool
	}{
		{secretsql.Credentials{Host: db.Host, Port: db.Port, Username: db.User, Password: "wrong", Database: db.Database}, true},
		{secretsql.Credentials{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password, Database: "no_such_db_sqt"}, true}, // 1044: no grant on it
	} {
		nc, err := Engine{}.NewConnector(tt.c, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = nc.Connect(context.Background())
		if err == nil || (Engine{}).IsAuthError(err) != tt.auth {
			t.Errorf("%s: err = %v, want auth = %v", tt.c.Database, err, tt.auth)
		}
	}
}
