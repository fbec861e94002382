package drivertest

import (
	"database/sql/driver"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/engine"
	"github.com/secretsql/secretsql/internal/enginekit"
)

// Build prepares the driver parameters params with e, as sql.Open does,
// and builds the native connector for c, as the first connect with a
// version of the credentials does.
func Build(e engine.Engine, c secretsql.Credentials, params url.Values) (driver.Connector, error) {
	prepared, err := e.Prepare(params)
	if err != nil {
		return nil, err
	}
	return prepared.Connector(c)
}

// CheckDSNError fails the test unless err is a *secretsql.DSNError matching
// secretsql.ErrInvalidDSN, for key (if not ""), whose text holds neither
// password nor its URL-escaped form.
func CheckDSNError(t *testing.T, err error, key, password string) {
	t.Helper()
	var de *secretsql.DSNError
	if !errors.Is(err, secretsql.ErrInvalidDSN) || !errors.As(err, &de) {
		t.Fatalf("error %v is not a *DSNError matching ErrInvalidDSN", err)
	}
	checkKey(t, err, de.Key, key, password)
}

// CheckSecretError fails the test unless err is a *secretsql.SecretError
// (a value of the credentials cannot be used), for key (if not ""), whose
// text holds neither password nor its URL-escaped form.
func CheckSecretError(t *testing.T, err error, key, password string) {
	t.Helper()
	var se *secretsql.SecretError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *SecretError", err)
	}
	checkKey(t, err, se.Key, key, password)
}

func checkKey(t *testing.T, err error, got, key, password string) {
	t.Helper()
	if key != "" && got != key {
		t.Errorf("error key = %q, want %q (%v)", got, key, err)
	}
	if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), url.QueryEscape(password)) {
		t.Errorf("error %q contains the password", err)
	}
}

// CheckPasswordFree fails the test unless build, called again with c under
// another password, fails with the same text as err: an error of building
// neither holds nor depends on the password. (A substring check would trip
// on passwords that also occur in the other, non-secret inputs an error may
// quote.)
func CheckPasswordFree(t *testing.T, err error, c secretsql.Credentials, build func(secretsql.Credentials) error) {
	t.Helper()
	other := "another password"
	if c.Password() == other {
		other = "yet another password"
	}
	if err2 := build(c.WithPassword(other)); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("building %v: the error depends on the password: %v vs %v", c, err, err2)
	}
}

// IsValueError reports whether err is a *secretsql.SecretError or a
// *secretsql.DSNError: an error secretsql or an engine made, rather than
// one a driver's parser returned.
func IsValueError(err error) bool {
	var se *secretsql.SecretError
	var de *secretsql.DSNError
	return errors.As(err, &se) || errors.As(err, &de)
}

// RootAcceptsHost reports whether secretsql's root package passes host to
// an engine at all, so that engine tests can tell the hosts a connect can
// bring from those only a direct call of the engine can. It asks the root:
// a Handle on a file: secret with host as the DSN's host override is
// refused unless the root takes host for a host name or an IP address. No
// secret is read. The root strips the brackets of a DSN's "[::1]", so a
// host with brackets, which never reaches an engine, is refused here.
func RootAcceptsHost(host string) bool {
	if strings.ContainsAny(host, "[]") {
		return false
	}
	h, err := secretsql.NewHandle(hostProbe, "file:/nonexistent/secret?host="+url.QueryEscape(host), secretsql.WithCache(hostProbeCache))
	if err != nil {
		return false
	}
	h.Close()
	return true
}

// hostProbe is the engine of RootAcceptsHost's Handles, which never connect.
var hostProbe = enginekit.New("hostprobe", 1, "",
	func(url.Values) (engine.Prepared, error) { return nil, errors.New("never prepared") },
	func(error) bool { return false })

var hostProbeCache = secretsql.NewCache()

// HostileCredentials are credentials whose every field is hard to carry
// through a connection string or URL, on port (the engine's default), 10 ×
// port, 1 and 65535. Engines whose database names have rules of their own
// replace Database.
func HostileCredentials(port int) []secretsql.Credentials {
	type creds struct{ host, user, database, password string }
	list := []creds{
		{"db.example.com", "admin", "master", "plain"},
		{"127.0.0.1", "us:er", "app db", "p@ss/word"},
		{"::1", "user@corp", "a/b", "a:b@c/d?e#f%g h"},
		{"fe80::1", "u:@/?#", "x;y=z&w", `semi;colon{brace}}'q"uo\te`},
		{"fe80::1%eth0", "sa", " spaced ", " lead and trail "},
		{"db-1.internal", "ünïcödé", "données", "pässwörd€ß漢字😀"},
		{"localhost", "x", "%41+b", "comma,eq=amp&plus+pct%41"},
		{"2001:db8::10", "domain user", "{db}", "😀 emoji"},
		{"2001:db8::11", "C##ADMIN", "pdb1.example.com", "(paren)$dollar!"},
		{"h", "", "", ""},
	}
	ports := map[int]int{1: 10 * port, 3: 1, 4: 65535}
	out := make([]secretsql.Credentials, len(list))
	for i, c := range list {
		p, ok := ports[i]
		if !ok {
			p = port
		}
		out[i] = secretsql.Credentials{Host: c.host, Port: p, Username: c.user, Database: c.database}.WithPassword(c.password)
	}
	return out
}
