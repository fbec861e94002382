package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/engine"
	"github.com/secretsql/secretsql/internal/drivertest"
)

// hostileCreds are credentials whose every field is hard to carry through a
// connection string.
var hostileCreds = drivertest.HostileCredentials(1433)

// buildConfig prepares params, as sql.Open does, and builds the
// configuration for c, as the first connect with a version of the
// credentials does.
func buildConfig(c secretsql.Credentials, params url.Values) (msdsn.Config, error) {
	query, err := prepare(params)
	if err != nil {
		return msdsn.Config{}, err
	}
	return build(query, c)
}

func TestRoundTrip(t *testing.T) {
	for _, c := range hostileCreds {
		t.Run(fmt.Sprintf("%s|%s", c.Host, c.Username), func(t *testing.T) {
			checkRoundTrip(t, c, nil)
		})
	}
}

func TestRoundTripWithParams(t *testing.T) {
	params := url.Values{
		"encrypt":                {"disable"},
		"TrustServerCertificate": {"true"},
		"app name":               {"billing; app=1"},
		"dial timeout":           {"3"},
	}
	for _, c := range hostileCreds {
		cfg := checkRoundTrip(t, c, params)
		if cfg.Encryption != msdsn.EncryptionDisabled || !cfg.TrustServerCertificate ||
			cfg.AppName != "billing; app=1" || cfg.DialTimeout != 3*time.Second {
			t.Errorf("params not applied: encryption %v trust %v app %q dial %v",
				cfg.Encryption, cfg.TrustServerCertificate, cfg.AppName, cfg.DialTimeout)
		}
	}
}

// checkRoundTrip builds the configuration for c, and checks that it, and the
// URL go-mssqldb formats from it re-parsed by go-mssqldb, give back exactly
// the credentials.
func checkRoundTrip(t *testing.T, c secretsql.Credentials, params url.Values) msdsn.Config {
	t.Helper()
	cfg, err := buildConfig(c, params)
	if err != nil {
		t.Fatalf("buildConfig(%v): %v", c, err)
	}
	compare(t, "config", c, cfg)
	if len(cfg.Protocols) == 0 || cfg.DialTimeout == 0 || cfg.AppName == "" {
		t.Errorf("parser defaults missing: protocols %v, dial timeout %v, app name %q", cfg.Protocols, cfg.DialTimeout, cfg.AppName)
	}
	again, err := msdsn.Parse(cfg.URL().String())
	if err != nil {
		t.Fatalf("msdsn.Parse(cfg.URL()) for %v: %v", c, err)
	}
	compare(t, "cfg.URL() re-parsed", c, again)
	return cfg
}

func compare(t *testing.T, what string, want secretsql.Credentials, got msdsn.Config) {
	t.Helper()
	if got.Host != want.Host || got.Port != uint64(want.Port) || got.User != want.Username ||
		got.Password != want.Password() || got.Database != want.Database || got.Instance != "" {
		t.Errorf("%s: got host %q port %d user %q database %q instance %q (password equal: %v); want %v",
			what, got.Host, got.Port, got.User, got.Database, got.Instance, got.Password == want.Password(), want)
	}
}

func TestNewConnectorRejectsParams(t *testing.T) {
	base := secretsql.Credentials{Host: "db", Port: 1433, Username: "u", Database: "d"}.WithPassword("hunter2-secret")
	cases := []struct {
		name   string
		params url.Values
		key    string
	}{
		{"password", url.Values{"password": {"x"}}, "password"},
		{"Password mixed case", url.Values{"Password": {"x"}}, "Password"},
		{"pwd", url.Values{"pwd": {"x"}}, "pwd"},
		{"user id", url.Values{"user id": {"x"}}, "user id"},
		{"uid", url.Values{"UID": {"x"}}, "UID"},
		{"user", url.Values{"user": {"x"}}, "user"},
		{"change password", url.Values{"change password": {"x"}}, "change password"},
		{"authenticator", url.Values{"authenticator": {"ntlm"}}, "authenticator"},
		{"fedauth", url.Values{"fedauth": {"ActiveDirectoryDefault"}}, "fedauth"},
		{"server", url.Values{"server": {"other"}}, "server"},
		{"port", url.Values{"port": {"1"}}, "port"},
		{"database", url.Values{"database": {"other"}}, "database"},
		{"initial catalog", url.Values{"initial catalog": {"other"}}, "initial catalog"},
		{"unknown", url.Values{"encrpyt": {"true"}}, "encrpyt"},
		{"bad encrypt", url.Values{"encrypt": {"sometimes"}}, "encrypt"},
		{"bad dial timeout", url.Values{"dial timeout": {"soon"}}, "dial timeout"},
		{"bad packet size", url.Values{"packet size": {"big"}}, "packet size"},
		{"missing certificate", url.Values{"certificate": {"/nonexistent/ca.pem"}}, "certificate"},
		{"twice", url.Values{"encrypt": {"true", "false"}}, "encrypt"},
		{"bad timezone", url.Values{"timezone": {"Mars/Olympus"}}, "timezone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := drivertest.Build(sqlserverEngine, base, tc.params)
			drivertest.CheckDSNError(t, err, tc.key, base.Password())
		})
	}
	t.Run("case duplicate", func(t *testing.T) {
		_, err := drivertest.Build(sqlserverEngine, base, url.Values{"encrypt": {"true"}, "ENCRYPT": {"false"}})
		drivertest.CheckDSNError(t, err, "", base.Password())
	})
	// The old combination (ApplicationIntent=ReadOnly with no database)
	// cannot happen any more: a connect always has a database (master by
	// default), and Prepare checks the parameters with it. Two keys that
	// go-mssqldb accepts alone but not together make the error name none.
	t.Run("combination", func(t *testing.T) {
		pem := writePEM(t)
		for _, p := range []url.Values{{"serverCertificate": {pem}}, {"hostNameInCertificate": {"db.example.com"}}} {
			if _, err := drivertest.Build(sqlserverEngine, base, p); err != nil {
				t.Fatalf("%v alone: %v", p, err)
			}
		}
		_, err := drivertest.Build(sqlserverEngine, base, url.Values{"serverCertificate": {pem}, "hostNameInCertificate": {"db.example.com"}})
		drivertest.CheckDSNError(t, err, "", base.Password())
	})
}

// writePEM writes a file that go-mssqldb reads as a PEM certificate and
// returns its path.
func writePEM(t *testing.T) string {
	t.Helper()
	pem := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(pem, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return pem
}

// TestCertificateGoneAfterPrepare: a certificate file readable when the DSN
// was opened but gone when a version of the credentials is built is the
// environment's error, returned as it is (not blamed on the secret).
func TestCertificateGoneAfterPrepare(t *testing.T) {
	pem := writePEM(t)
	prep, err := sqlserverEngine.Prepare(url.Values{"certificate": {pem}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(pem); err != nil {
		t.Fatal(err)
	}
	c := secretsql.Credentials{Host: "db", Port: 1433, Username: "u", Database: "d"}.WithPassword("hunter2-secret")
	_, err = prep.Connector(c)
	if err == nil || drivertest.IsValueError(err) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("build after the certificate went away: %v, want the file system's error as it is", err)
	}
	if strings.Contains(err.Error(), c.Password()) {
		t.Errorf("error %q contains the password", err)
	}
}

// TestNewConnectorRejectsEndpoint feeds the engine endpoints secretsql's
// root refuses before any engine sees them (hosts) or never produces
// (ports): a port out of range is the secret's error; a host is either
// refused or, when it is built, is exactly the host given, never another.
func TestNewConnectorRejectsEndpoint(t *testing.T) {
	for _, c := range []secretsql.Credentials{
		{Host: "", Port: 1433},
		{Host: ".", Port: 1433},
		{Host: "(local)", Port: 1433},
		{Host: `host\SQLEXPRESS`, Port: 1433},
		{Host: "a b", Port: 1433},
		{Host: "a/b", Port: 1433},
		{Host: "u@h", Port: 1433},
		{Host: "tcp:x", Port: 1433},
		{Host: "[::1]", Port: 1433},
		{Host: "::1%a/b", Port: 1433},
		{Host: "db", Port: 0},
		{Host: "db", Port: 70000},
	} {
		c = c.WithPassword("hunter2-secret")
		c.Username, c.Database = "u", "d"
		_, err := checkBuilt(t, c)
		if c.Host == "db" {
			drivertest.CheckSecretError(t, err, "port", c.Password())
		}
	}
}

// checkBuilt builds the configuration for c and checks that it either
// failed with an error that does not depend on the password (a
// *secretsql.SecretError, or go-mssqldb's own parse error), or holds exactly
// c's endpoint and credentials; then that go-mssqldb's URL of it gives them
// back too, where secretsql's root would let the host through at all.
func checkBuilt(t *testing.T, c secretsql.Credentials) (msdsn.Config, error) {
	t.Helper()
	cfg, err := buildConfig(c, nil)
	if err != nil {
		drivertest.CheckPasswordFree(t, err, c, func(c secretsql.Credentials) error {
			_, err := buildConfig(c, nil)
			return err
		})
		return cfg, err
	}
	compare(t, "config", c, cfg)
	if drivertest.RootAcceptsHost(c.Host) {
		again, err := msdsn.Parse(cfg.URL().String())
		if err != nil {
			t.Fatalf("msdsn.Parse(cfg.URL()) for %v: %v", c, err)
		}
		compare(t, "cfg.URL() re-parsed", c, again)
	}
	return cfg, nil
}

func TestNewConnectorAcceptsParams(t *testing.T) {
	c := secretsql.Credentials{Host: "db", Port: 1433, Username: "u", Database: "d"}.WithPassword("p")
	params := url.Values{
		"encrypt": {"strict"}, "hostNameInCertificate": {"db.example.com"}, "TLSMin": {"1.2"},
		"packet size": {"8192"}, "log": {"1"}, "connection timeout": {"30"}, "keepAlive": {"10"},
		"ServerSPN": {"MSSQLSvc/db:1433"}, "workstation id": {"ws"}, "ApplicationIntent": {"ReadOnly"},
		"failoverpartner": {"db2"}, "failoverport": {"1434"}, "disableRetry": {"true"},
		"protocol": {"tcp"}, "multisubnetfailover": {"false"}, "notraceid": {"true"},
		"guid conversion": {"true"}, "timezone": {"Europe/Paris"}, "columnencryption": {"false"},
	}
	conn, err := drivertest.Build(sqlserverEngine, c, params)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if _, ok := conn.(*mssql.Connector); !ok {
		t.Fatalf("NewConnector returned %T, want *mssql.Connector", conn)
	}
	cfg, err := buildConfig(c, params)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Encryption != msdsn.EncryptionStrict || cfg.PacketSize != 8192 || !cfg.ReadOnlyIntent ||
		cfg.FailOverPartner != "db2" || cfg.Encoding.Timezone.String() != "Europe/Paris" || cfg.Workstation != "ws" {
		t.Errorf("parameters not applied: %+v", cfg)
	}
}

func TestNewConnectorDefaultsFromParser(t *testing.T) {
	cfg, err := buildConfig(secretsql.Credentials{Host: "db", Port: 1433, Username: "u"}.WithPassword("p"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Encryption != msdsn.EncryptionOff || cfg.TLSConfig == nil || cfg.TLSConfig.ServerName != "db" {
		t.Errorf("TLS defaults not filled: encryption %v config %v", cfg.Encryption, cfg.TLSConfig)
	}
	if !slices.Contains(cfg.Protocols, "tcp") || cfg.DialTimeout != 15*time.Second || cfg.KeepAlive != 30*time.Second {
		t.Errorf("dial defaults not filled: %v %v %v", cfg.Protocols, cfg.DialTimeout, cfg.KeepAlive)
	}
	if _, leaked := cfg.Parameters[msdsn.Password]; leaked {
		t.Error("the password ended up in Parameters")
	}
}

func TestIsAuthError(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{mssql.Error{Number: 18456, State: 1, Class: 14, Message: "login error: Login failed for user 'u'."}, true},
		{mssql.Error{Number: 18486}, true},
		{mssql.Error{Number: 18487}, true},
		{mssql.Error{Number: 18488}, true},
		{fmt.Errorf("connect: %w", mssql.Error{Number: 18456}), true},
		{mssql.Error{Number: 4060, Message: "Cannot open database"}, false},
		{mssql.Error{Number: 18452}, false},
		{mssql.Error{Number: 102}, false},
		{errors.New("mssql: Login failed for user 'u'. (18456)"), false},
		{context.DeadlineExceeded, false},
		{nil, false},
	}
	for _, tc := range cases {
		if got := sqlserverEngine.IsAuthError(tc.err); got != tc.want {
			t.Errorf("IsAuthError(%#v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestAcceptsSecretEngine(t *testing.T) {
	for _, v := range []string{"sqlserver", "sqlserver-ee", "sqlserver-se", "sqlserver-ex", "sqlserver-web"} {
		if !sqlserverEngine.AcceptsSecretEngine(v) {
			t.Errorf("AcceptsSecretEngine(%q) = false", v)
		}
	}
	for _, v := range []string{"mysql", "postgres", "oracle", "sqlserver-xx", "mssql"} {
		if sqlserverEngine.AcceptsSecretEngine(v) {
			t.Errorf("AcceptsSecretEngine(%q) = true", v)
		}
	}
}

func TestRegistered(t *testing.T) {
	if !slices.ContainsFunc(engine.All(), func(e engine.Engine) bool { return e.Name() == "sqlserver" }) {
		t.Fatalf("engine not registered: %v", engine.All())
	}
	if !slices.Contains(sql.Drivers(), engine.DriverPrefix+"sqlserver") {
		t.Fatalf("driver not registered: %v", sql.Drivers())
	}
	e := sqlserverEngine
	if port, db := e.Defaults(); e.Name() != "sqlserver" || port != 1433 || db != "master" {
		t.Errorf("engine metadata: %q %d %q", e.Name(), port, db)
	}
}

// FuzzRoundTrip: whatever the credentials, building the configuration
// either fails with an error that does not depend on the password, or gives
// back exactly the host, port, user, password and database. Hosts are not
// limited to those secretsql's root lets through.
func FuzzRoundTrip(f *testing.F) {
	for _, c := range hostileCreds {
		f.Add(c.Host, uint16(c.Port), c.Username, c.Password(), c.Database)
	}
	f.Fuzz(func(t *testing.T, host string, port uint16, user, password, database string) {
		checkBuilt(t, secretsql.Credentials{Host: host, Port: int(port), Username: user, Database: database}.WithPassword(password))
	})
}
