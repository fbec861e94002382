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
	"github.com/sijms/go-ora/v2/configurations"
	"github.com/sijms/go-ora/v2/network"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/engine"
	"github.com/secretsql/secretsql/internal/drivertest"
)

// serviceNames are service names Oracle allows: letters, digits and
// . _ - $ #.
var serviceNames = []string{"ORCL", "app_svc", "a.b", "x$y#z", "SVC-1", "pdb1.example.com", "orclpdb1", "C##X", "A41_b", "s"}

// hostileCreds are credentials whose user name, password, host and port are
// hard to carry through a connection URL, with service names Oracle allows.
var hostileCreds = withServices(drivertest.HostileCredentials(1521), serviceNames)

func withServices(list []secretsql.Credentials, services []string) []secretsql.Credentials {
	for i := range list {
		list[i].Database = services[i%len(services)]
	}
	return list
}

// buildURL prepares params, as sql.Open does, and builds the go-ora URL for
// c, as the first connect with a version of the credentials does; and
// returns what go-ora parses from it, as each connect does.
func buildURL(c secretsql.Credentials, params url.Values) (string, *configurations.ConnectionConfig, error) {
	opts, err := prepare(params)
	if err != nil {
		return "", nil, err
	}
	dsn, err := opts.url(c)
	if err != nil {
		return "", nil, err
	}
	cfg, err := go_ora.ParseConfig(dsn) // url checked that it parses
	if err != nil {
		return "", nil, errors.New("go-ora no longer parses the URL it built")
	}
	return dsn, cfg, nil
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
		cfg.Password != want.Password() || cfg.ServiceName != want.Database {
		t.Errorf("got host %q port %d user %q service %q (password equal: %v); want %v",
			s.Addr, s.Port, cfg.UserID, cfg.ServiceName, cfg.Password == want.Password(), want)
	}
	return &configFields{cfg.SSL, cfg.SSLVerify, cfg.ConnectTimeout, cfg.ProgramName, cfg.SID}
}

func TestSID(t *testing.T) {
	c := secretsql.Credentials{Host: "db", Port: 1521, Username: "u"}.WithPassword("hunter2-secret")
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

	for _, sid := range []string{"", "ORCL)(INSTANCE_NAME=x", "OR CL", "ORCL(", "a=b", `OR\CL`, "ÖRCL"} {
		_, err = drivertest.Build(oracleEngine, c, url.Values{"SID": {sid}})
		drivertest.CheckDSNError(t, err, "SID", c.Password())
	}
	for _, sid := range []string{"ORCL", "orcl_1", "DB$1", "X#2", "a.b-c"} {
		if _, cfg, err := buildURL(c, url.Values{"sid": {sid}}); err != nil || cfg.SID != sid {
			t.Errorf("SID %q: %v", sid, err)
		}
	}
}

// TestNoServiceName: without a service name and without a SID, the options
// are still checked when the DSN is opened, and building a version of the
// credentials fails with a *secretsql.SecretError for dbname that matches
// ErrMissingKey.
func TestNoServiceName(t *testing.T) {
	c := secretsql.Credentials{Host: "db", Port: 1521, Username: "u"}.WithPassword("hunter2-secret")
	_, _, err := buildURL(c, nil)
	drivertest.CheckSecretError(t, err, "dbname", c.Password())
	if !errors.Is(err, secretsql.ErrMissingKey) {
		t.Errorf("error %v does not match ErrMissingKey", err)
	}

	prep, err := oracleEngine.Prepare(url.Values{"SSL": {"true"}})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	_, err = prep.Connector(c)
	drivertest.CheckSecretError(t, err, "dbname", c.Password())
	if !errors.Is(err, secretsql.ErrMissingKey) {
		t.Errorf("error %v does not match ErrMissingKey", err)
	}
	c.Database = "svc"
	if conn, err := prep.Connector(c); err != nil || conn.Driver() == nil {
		t.Errorf("the same prepared options with a service name: %v", err)
	}

	_, err = oracleEngine.Prepare(url.Values{"CONNECT TIMEOUT": {"soon"}})
	drivertest.CheckDSNError(t, err, "CONNECT TIMEOUT", c.Password())
}

func TestNewConnectorRejectsOptions(t *testing.T) {
	base := secretsql.Credentials{Host: "db", Port: 1521, Username: "u", Database: "svc"}.WithPassword("hunter2-secret")
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
			_, err := drivertest.Build(oracleEngine, base, tc.params)
			drivertest.CheckDSNError(t, err, tc.key, base.Password())
		})
	}
	t.Run("case duplicate", func(t *testing.T) {
		_, err := drivertest.Build(oracleEngine, base, url.Values{"ssl": {"true"}, "SSL": {"false"}})
		drivertest.CheckDSNError(t, err, "", base.Password())
	})
	t.Run("service with slashes", func(t *testing.T) {
		c := base
		c.Database = "/svc/"
		_, err := drivertest.Build(oracleEngine, c, nil)
		drivertest.CheckSecretError(t, err, "dbname", base.Password())
	})
}

// TestNewConnectorRejectsEndpoint feeds the engine endpoints secretsql's
// root refuses before any engine sees them (hosts) or never produces
// (ports): a port out of range is the secret's error; a host is either
// refused or, when it is built, is exactly the host given, never another.
func TestNewConnectorRejectsEndpoint(t *testing.T) {
	for _, c := range []secretsql.Credentials{
		{Host: "", Port: 1521},
		{Host: "a b", Port: 1521},
		{Host: "a/b", Port: 1521},
		{Host: "u@h", Port: 1521},
		{Host: "tcp:x", Port: 1521},
		{Host: "[::1]", Port: 1521},
		{Host: "(DESCRIPTION=x)", Port: 1521},
		{Host: "h)(PORT=1", Port: 1521},
		{Host: "db", Port: 0},
		{Host: "db", Port: 65536},
	} {
		c = c.WithPassword("hunter2-secret")
		c.Username, c.Database = "u", "svc"
		_, err := checkBuilt(t, c, nil)
		if c.Host == "db" {
			drivertest.CheckSecretError(t, err, "port", c.Password())
		}
	}
}

// checkBuilt builds the URL for c and params and checks that it either
// failed with an error that does not depend on the password, or that
// go-ora's parser gives back exactly c's endpoint and credentials.
func checkBuilt(t *testing.T, c secretsql.Credentials, params url.Values) (*configurations.ConnectionConfig, error) {
	t.Helper()
	dsn, cfg, err := buildURL(c, params)
	if err != nil {
		drivertest.CheckPasswordFree(t, err, c, func(c secretsql.Credentials) error {
			_, _, err := buildURL(c, params)
			return err
		})
		return nil, err
	}
	compareParsed(t, dsn, c)
	return cfg, nil
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
			c := tc.c.WithPassword(pw)
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
		c := secretsql.Credentials{Host: host, Port: 1521, Username: "u", Database: "svc"}.WithPassword("p")
		// Zones secretsql's root refuses may be refused by the engine too.
		if _, err := checkBuilt(t, c, nil); ok && err != nil {
			t.Errorf("host %q: %v", host, err)
		}
	}
}

func TestNewConnectorType(t *testing.T) {
	c := secretsql.Credentials{Host: "db", Port: 1521, Username: "u", Database: "svc"}.WithPassword("p")
	conn, err := drivertest.Build(oracleEngine, c, url.Values{"PREFETCH_ROWS": {"100"}, "server": {"db2:1521", "db3:1521"}})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if _, ok := conn.(*go_ora.OracleConnector); !ok {
		t.Fatalf("Build returned %T, want *go_ora.OracleConnector", conn)
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
		if got := oracleEngine.IsAuthError(tc.err); got != tc.want {
			t.Errorf("IsAuthError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestAcceptsSecretEngine(t *testing.T) {
	for _, v := range []string{"oracle", "oracle-ee", "oracle-se2", "oracle-ee-cdb", "oracle-se2-cdb"} {
		if !oracleEngine.AcceptsSecretEngine(v) {
			t.Errorf("AcceptsSecretEngine(%q) = false", v)
		}
	}
	for _, v := range []string{"mysql", "postgres", "sqlserver", "oracle-se", "oracle-se1"} {
		if oracleEngine.AcceptsSecretEngine(v) {
			t.Errorf("AcceptsSecretEngine(%q) = true", v)
		}
	}
}

func TestRegistered(t *testing.T) {
	if !slices.ContainsFunc(engine.All(), func(e engine.Engine) bool { return e.Name() == "oracle" }) {
		t.Fatalf("engine not registered: %v", engine.All())
	}
	if !slices.Contains(sql.Drivers(), engine.DriverPrefix+"oracle") {
		t.Fatalf("driver not registered: %v", sql.Drivers())
	}
	e := oracleEngine
	if port, db := e.Defaults(); e.Name() != "oracle" || port != 1521 || db != "" {
		t.Errorf("engine metadata: %q %d %q", e.Name(), port, db)
	}
}

// FuzzRoundTrip: whatever the credentials, building the URL either fails
// with an error that does not depend on the password, or go-ora's parser
// gives back exactly the host, port, user, password and service name. Hosts
// are not limited to those secretsql's root lets through.
func FuzzRoundTrip(f *testing.F) {
	for _, c := range append(hostileCreds, drivertest.HostileCredentials(1521)...) {
		f.Add(c.Host, uint16(c.Port), c.Username, c.Password(), c.Database)
	}
	f.Fuzz(func(t *testing.T, host string, port uint16, user, password, service string) {
		checkBuilt(t, secretsql.Credentials{Host: host, Port: int(port), Username: user, Database: service}.WithPassword(password), nil)
	})
}
