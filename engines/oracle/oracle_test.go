package oracle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	go_ora "github.com/sijms/go-ora/v2"
	"github.com/sijms/go-ora/v2/network"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/drivertest"
)

// hostileCreds are credentials whose every field is hard to carry through a
// connection URL.
var hostileCreds = []secretsql.Credentials{
	{Host: "db.example.com", Port: 1521, Username: "admin", Password: "plain", Database: "ORCL"},
	{Host: "127.0.0.1", Port: 15210, Username: "us:er", Password: "p@ss/word", Database: "app svc"},
	{Host: "::1", Port: 1521, Username: "user@corp", Password: "a:b@c/d?e#f%g h", Database: "a/b"},
	{Host: "fe80::1", Port: 1, Username: "u:@/?#", Password: `semi;colon{brace}}'q"uo\te`, Database: "x;y=z&w"},
	{Host: "fe80::1%eth0", Port: 65535, Username: "sa", Password: " lead and trail ", Database: " spaced "},
	{Host: "db-1.internal", Port: 1521, Username: "ünïcödé", Password: "pässwörd€ß漢字😀", Database: "données"},
	{Host: "localhost", Port: 1521, Username: "x", Password: "comma,eq=amp&plus+pct%41", Database: "%41+b"},
	{Host: "2001:db8::10", Port: 1521, Username: "C##ADMIN", Password: "(paren)$dollar!", Database: "pdb1.example.com"},
	{Host: "h", Port: 1521, Username: "", Password: "", Database: "s"},
}

func TestRoundTrip(t *testing.T) {
	for _, c := range hostileCreds {
		t.Run(fmt.Sprintf("%s|%s", c.Host, c.Username), func(t *testing.T) {
			checkRoundTrip(t, c, nil)
		})
	}
}

func TestRoundTripWithOptions(t *testing.T) {
	params := url.Values{
		"ssl":             {"true"},
		"SSL Verify":      {"false"},
		"CONNECT TIMEOUT": {"7"},
		"PROGRAM":         {"billing, nightly"}, // a comma that go_ora.BuildUrl would split on
	}
	for _, c := range hostileCreds {
		cfg := checkRoundTrip(t, c, params)
		if !cfg.SSL || cfg.SSLVerify || cfg.ConnectTimeout != 7*time.Second || cfg.ProgramName != "billing, nightly" {
			t.Errorf("options not applied: SSL %v verify %v timeout %v program %q", cfg.SSL, cfg.SSLVerify, cfg.ConnectTimeout, cfg.ProgramName)
		}
	}
}

// checkRoundTrip builds the URL for c and checks that go-ora's own parser
// gives back exactly the credentials.
func checkRoundTrip(t *testing.T, c secretsql.Credentials, params url.Values) *configFields {
	t.Helper()
	dsn, _, err := buildURL(c, params)
	if err != nil {
		t.Fatalf("buildURL(%v): %v", c, err)
	}
	return compareParsed(t, dsn, c)
}

// configFields is what the tests read back from go-ora's configuration.
type configFields struct {
	SSL, SSLVerify bool
	ConnectTimeout time.Duration
	ProgramName    string
	SID            string
}

func compareParsed(t *testing.T, dsn string, want secretsql.Credentials) *configFields {
	t.Helper()
	cfg, err := go_ora.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("go_ora.ParseConfig for %v: %v", want, err)
	}
	if len(cfg.Servers) != 1 {
		t.Fatalf("servers %v, want one", cfg.Servers)
	}
	s := cfg.Servers[0]
	if s.Addr != want.Host || s.Port != want.Port || cfg.UserID != want.Username ||
		cfg.Password != want.Password || cfg.ServiceName != want.Database {
		t.Errorf("got host %q port %d user %q service %q (password equal: %v); want %v",
			s.Addr, s.Port, cfg.UserID, cfg.ServiceName, cfg.Password == want.Password, want)
	}
	return &configFields{cfg.SSL, cfg.SSLVerify, cfg.ConnectTimeout, cfg.ProgramName, cfg.SID}
}

func TestSID(t *testing.T) {
	c := secretsql.Credentials{Host: "db", Port: 1521, Username: "u", Password: "hunter2-secret"}
	dsn, cfg, err := buildURL(c, url.Values{"sid": {"ORCL"}})
	if err != nil {
		t.Fatalf("buildURL with SID: %v", err)
	}
	if cfg.SID != "ORCL" || cfg.ServiceName != "" {
		t.Errorf("SID %q service %q", cfg.SID, cfg.ServiceName)
	}
	if !strings.Contains(cfg.ConnectionData(), "(SID=ORCL)") {
		t.Errorf("connect descriptor %q does not use the SID", cfg.ConnectionData())
	}
	compareParsed(t, dsn, c)

	_, err = engine{}.NewConnector(c, url.Values{"SID": {""}})
	drivertest.CheckDSNError(t, err, "SID", c.Password)
}

func TestNoServiceName(t *testing.T) {
	c := secretsql.Credentials{Host: "db", Port: 1521, Username: "u", Password: "hunter2-secret"}
	_, _, err := buildURL(c, nil)
	drivertest.CheckDSNError(t, err, "dbname", c.Password)

	// secretsql probes NewConnector with an empty database before it has
	// read the secret: the options are checked, and the missing service is
	// reported by Connect.
	conn, err := engine{}.NewConnector(c, url.Values{"SSL": {"true"}})
	if err != nil {
		t.Fatalf("NewConnector without a service: %v", err)
	}
	if conn.Driver() == nil {
		t.Error("Driver() = nil")
	}
	_, err = conn.Connect(context.Background())
	drivertest.CheckDSNError(t, err, "dbname", c.Password)

	_, err = engine{}.NewConnector(c, url.Values{"CONNECT TIMEOUT": {"soon"}})
	drivertest.CheckDSNError(t, err, "CONNECT TIMEOUT", c.Password)
}

func TestNewConnectorRejectsOptions(t *testing.T) {
	base := secretsql.Credentials{Host: "db", Port: 1521, Username: "u", Password: "hunter2-secret", Database: "svc"}
	cases := []struct {
		name   string
		params url.Values
		key    string
	}{
		{"password", url.Values{"password": {"x"}}, "password"},
		{"user", url.Values{"User": {"x"}}, "User"},
		{"os password", url.Values{"OS PASSWORD": {"x"}}, "OS PASSWORD"},
		{"os hash", url.Values{"os hash": {"x"}}, "os hash"},
		{"auth type", url.Values{"AUTH TYPE": {"OS"}}, "AUTH TYPE"},
		{"connstr", url.Values{"connStr": {"(DESCRIPTION=...)"}}, "connStr"},
		{"service name", url.Values{"SERVICE NAME": {"other"}}, "SERVICE NAME"},
		{"unknown", url.Values{"SSL VERIFYY": {"true"}}, "SSL VERIFYY"},
		{"bad timeout", url.Values{"CONNECT TIMEOUT": {"soon"}}, "CONNECT TIMEOUT"},
		{"bad encryption", url.Values{"ENCRYPTION": {"maybe"}}, "ENCRYPTION"},
		{"bad lob fetch", url.Values{"LOB FETCH": {"later"}}, "LOB FETCH"},
		{"bad charset", url.Values{"CHARSET": {"klingon"}}, "CHARSET"},
		{"missing wallet", url.Values{"WALLET": {"/nonexistent/wallet"}}, "WALLET"},
		{"twice", url.Values{"SSL": {"true", "false"}}, "SSL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := engine{}.NewConnector(base, tc.params)
			drivertest.CheckDSNError(t, err, tc.key, base.Password)
		})
	}
	t.Run("case duplicate", func(t *testing.T) {
		_, err := engine{}.NewConnector(base, url.Values{"ssl": {"true"}, "SSL": {"false"}})
		drivertest.CheckDSNError(t, err, "", base.Password)
	})
	t.Run("service with slashes", func(t *testing.T) {
		c := base
		c.Database = "/svc/"
		_, err := engine{}.NewConnector(c, nil)
		drivertest.CheckDSNError(t, err, "dbname", base.Password)
	})
}

func TestNewConnectorRejectsEndpoint(t *testing.T) {
	for _, c := range []secretsql.Credentials{
		{Host: "", Port: 1521},
		{Host: "a b", Port: 1521},
		{Host: "a/b", Port: 1521},
		{Host: "u@h", Port: 1521},
		{Host: "tcp:x", Port: 1521},
		{Host: "[::1]", Port: 1521},
		{Host: "(DESCRIPTION=x)", Port: 1521},
		{Host: "db", Port: 0},
		{Host: "db", Port: 65536},
	} {
		c.Password = "hunter2-secret"
		c.Database = "svc"
		_, err := engine{}.NewConnector(c, nil)
		key := "host"
		if c.Host == "db" {
			key = "port"
		}
		drivertest.CheckDSNError(t, err, key, c.Password)
	}
}

func TestParseErrorsNeverQuoteThePassword(t *testing.T) {
	const pw = "s3cr3t/p@ss"
	dsn := (&url.URL{Scheme: "oracle", User: url.UserPassword("u", pw), Host: "h:port", Path: "/s"}).String()
	_, err := go_ora.ParseConfig(dsn)
	if err == nil {
		t.Fatal("ParseConfig accepted a malformed port")
	}
	if !strings.Contains(err.Error(), url.UserPassword("u", pw).String()) {
		t.Logf("go-ora's error no longer includes the URL: %v", err)
	}
	if got := dropURLError(err).Error(); strings.Contains(got, "p@ss") || strings.Contains(got, "p%40ss") {
		t.Errorf("dropURLError kept the URL: %q", got)
	}
	plain := errors.New("TIMEOUT value must be an integer")
	if dropURLError(plain) != plain {
		t.Error("dropURLError changed an error that is not a URL error")
	}
	// go-ora rejects the options or the host before it sees the password:
	// the error is the same whatever the password, and never quotes it.
	for _, tc := range []struct {
		c      secretsql.Credentials
		params url.Values
	}{
		{secretsql.Credentials{Host: "db", Port: 1521, Username: "u", Database: "svc"}, url.Values{"TIMEOUT": {"soon"}}},
		{secretsql.Credentials{Host: "fe80::1%eth0", Port: 65484, Username: "u", Database: "svc"}, url.Values{"TIMEOUT": {"-"}}},
	} {
		var msgs []string
		for _, pw := range []string{"8", "integer", "svc", "PassWord/1@x", ""} { // "integer" is in go-ora's message
			c := tc.c
			c.Password = pw
			_, _, err := buildURL(c, tc.params)
			if err == nil || !errors.Is(err, secretsql.ErrInvalidDSN) {
				t.Fatalf("buildURL(%v): %v, want ErrInvalidDSN", tc.params, err)
			}
			msgs = append(msgs, err.Error())
		}
		for _, m := range msgs[1:] {
			if m != msgs[0] {
				t.Errorf("the error depends on the password: %q vs %q", msgs[0], m)
			}
		}
	}
}

func TestHostZone(t *testing.T) {
	for host, ok := range map[string]bool{"fe80::1%eth0": true, "fe80::1%2": true, "fe80::1%br-1_a.b": true, "::%]": false, "::1%a/b": false, "::1%a b": false} {
		c := secretsql.Credentials{Host: host, Port: 1521, Username: "u", Password: "p", Database: "svc"}
		_, _, err := buildURL(c, nil)
		if ok && err != nil {
			t.Errorf("host %q: %v", host, err)
		}
		if !ok && !errors.Is(err, secretsql.ErrInvalidDSN) {
			t.Errorf("host %q: %v, want ErrInvalidDSN", host, err)
		}
	}
}

func TestNewConnectorType(t *testing.T) {
	c := secretsql.Credentials{Host: "db", Port: 1521, Username: "u", Password: "p", Database: "svc"}
	conn, err := engine{}.NewConnector(c, url.Values{"PREFETCH_ROWS": {"100"}, "server": {"db2:1521", "db3:1521"}})
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	if _, ok := conn.(*go_ora.OracleConnector); !ok {
		t.Fatalf("NewConnector returned %T, want *go_ora.OracleConnector", conn)
	}
	_, cfg, err := buildURL(c, url.Values{"server": {"db2:1521", "db3:1521"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Servers) != 3 || cfg.Servers[2].Addr != "db3" {
		t.Errorf("servers %v, want db, db2, db3", cfg.Servers)
	}
}

func TestIsAuthError(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{network.NewOracleError(1017), true},
		{network.NewOracleError(28000), true},
		{network.NewOracleError(28001), true},
		{network.NewOracleError(1005), true},
		{fmt.Errorf("connect: %w", network.NewOracleError(1017)), true},
		{&network.OracleError{ErrCode: 1017, ErrMsg: "ORA-01017: invalid username/password; logon denied"}, true},
		{network.NewOracleError(28002), false},
		{network.NewOracleError(1045), false},
		{network.NewOracleError(12514), false},
		{(*network.OracleError)(nil), false},
		{errors.New("ORA-01017: invalid username/password; logon denied"), false},
		{context.DeadlineExceeded, false},
		{nil, false},
	}
	for _, tc := range cases {
		if got := (engine{}).IsAuthError(tc.err); got != tc.want {
			t.Errorf("IsAuthError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestAcceptsSecretEngine(t *testing.T) {
	for _, v := range []string{"oracle", "oracle-ee", "oracle-se2", "oracle-ee-cdb", "oracle-se2-cdb"} {
		if !(engine{}).AcceptsSecretEngine(v) {
			t.Errorf("AcceptsSecretEngine(%q) = false", v)
		}
	}
	for _, v := range []string{"mysql", "postgres", "sqlserver", "oracle-se", "oracle-se1"} {
		if (engine{}).AcceptsSecretEngine(v) {
			t.Errorf("AcceptsSecretEngine(%q) = true", v)
		}
	}
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(secretsql.Engines(), "oracle") {
		t.Fatalf("engine not registered: %v", secretsql.Engines())
	}
	if !slices.Contains(sql.Drivers(), secretsql.DriverPrefix+"oracle") {
		t.Fatalf("driver not registered: %v", sql.Drivers())
	}
	e := engine{}
	if e.Name() != "oracle" || e.DefaultPort() != 1521 || e.DefaultDatabase() != "" {
		t.Errorf("engine metadata: %q %d %q", e.Name(), e.DefaultPort(), e.DefaultDatabase())
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, c := range hostileCreds {
		f.Add(c.Host, uint16(c.Port), c.Username, c.Password, c.Database)
	}
	f.Fuzz(func(t *testing.T, host string, port uint16, user, password, service string) {
		c := secretsql.Credentials{Host: host, Port: int(port), Username: user, Password: password, Database: service}
		dsn, _, err := buildURL(c, nil)
		if err != nil {
			if !errors.Is(err, secretsql.ErrInvalidDSN) {
				t.Fatalf("error %v does not match ErrInvalidDSN", err)
			}
			// The error must not depend on the password in any way.
			c2 := c
			c2.Password = "other password"
			_, _, err2 := buildURL(c2, nil)
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("error depends on the password: %v vs %v", err, err2)
			}
			return
		}
		compareParsed(t, dsn, c)
	})
}
