package secretsql

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/secretsql/secretsql/credential"
	"github.com/secretsql/secretsql/engine"
)

// secretValue is the database secret structure of the Secrets Manager user
// guide. Unknown keys (masterarn, dbClusterIdentifier, …) are ignored.
type secretValue struct {
	engine   string
	host     string
	port     int
	username string
	password string
	dbname   string
}

// credential is the secret's credential (without a Version).
func (s secretValue) credential() credential.Credential {
	c := credential.Credential{Username: s.username, Host: s.host, Port: s.port, Database: s.dbname, Engine: s.engine}
	if s.password != "" {
		c = c.WithPassword(s.password)
	}
	return c
}

// parseSecret decodes a secret value. Its errors name the secret and the key
// and never quote the value.
func parseSecret(raw []byte, secretARN, versionID string) (secretValue, error) {
	var s secretValue
	bad := func(key, reason string) error {
		return &SecretError{SecretARN: secretARN, VersionID: versionID, Key: key, Reason: reason, Kind: ErrMalformedSecret}
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return s, &SecretError{SecretARN: secretARN, VersionID: versionID, Reason: "the secret value is empty", Kind: ErrMissingKey}
	}
	if raw[0] != '{' {
		return s, bad("", "the value is not a JSON object; store the database secret structure "+
			`{"engine":…,"host":…,"port":…,"username":…,"password":…,"dbname":…}`)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		reason := "the value is not valid JSON"
		var se *json.SyntaxError
		if errors.As(err, &se) {
			reason += " (syntax error at byte " + strconv.FormatInt(se.Offset, 10) + ")"
		}
		return s, bad("", reason)
	}
	str := func(key string, dst *string) error {
		v, ok := m[key]
		if !ok || string(v) == "null" {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return bad(key, "must be a JSON string")
		}
		return nil
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"engine", &s.engine}, {"host", &s.host}, {"username", &s.username}, {"password", &s.password}, {"dbname", &s.dbname}} {
		if err := str(f.key, f.dst); err != nil {
			return s, err
		}
	}
	s.engine = strings.ToLower(strings.TrimSpace(s.engine))
	s.host = strings.TrimSpace(s.host)
	if v, ok := m["port"]; ok && string(v) != "null" {
		p, err := parsePort(v)
		if err != nil {
			return s, bad("port", "must be a port number (1-65535), as a JSON number or string")
		}
		s.port = p
	}
	return s, nil
}

func parsePort(v json.RawMessage) (int, error) {
	var n json.Number
	if v[0] == '"' {
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			return 0, err
		}
		n = json.Number(strings.TrimSpace(str))
	} else if err := json.Unmarshal(v, &n); err != nil {
		return 0, err
	}
	p, err := strconv.Atoi(n.String())
	if err != nil || p < 1 || p > 65535 {
		return 0, errors.New("out of range")
	}
	return p, nil
}

// resolve applies the DSN overrides to a parsed secret and checks that it
// fits the engine and holds a username and a password. With complete, it
// also requires a host and applies the engine's default port and database,
// as a Connector needs; without, what the secret lacks stays empty, as a
// Handle's credentials (the pool's configuration has the rest).
func resolve(s credential.Credential, e engine.Engine, d *dsnConfig, secretARN, versionID string, complete bool) (Credentials, error) {
	fault := func(key, reason string, kind error) error {
		return &SecretError{SecretARN: secretARN, VersionID: versionID, Key: key, Reason: reason, Kind: kind}
	}
	if s.Engine != "" && !e.AcceptsSecretEngine(s.Engine) {
		return Credentials{}, fault("engine", "the secret is for engine "+strconv.Quote(s.Engine)+
			" but was opened with driver "+strconv.Quote(engine.DriverPrefix+e.Name()), ErrEngineMismatch)
	}
	c := Credentials{Host: s.Host, Port: s.Port, Username: s.Username, Database: s.Database,
		Engine: s.Engine, Version: versionID, Expiry: s.Expiry, Retire: s.Retire}
	if c.Username == "" {
		return Credentials{}, fault("username", "missing or empty", ErrMissingKey)
	}
	if s.Password() == "" {
		return Credentials{}, fault("password", "missing or empty", ErrMissingKey)
	}
	c = c.WithPassword(s.Password())
	if d.host != "" {
		c.Host = d.host
	} else if c.Host != "" && !validHost(c.Host) {
		return Credentials{}, fault("host", "not a host name or IP address: secretsql connects over TCP only "+
			"(a Unix socket path would bypass the TLS the DSN asks for)", ErrMalformedSecret)
	}
	if d.port != 0 {
		c.Port = d.port
	}
	if d.hasDB {
		c.Database = d.dbname
	}
	if !complete {
		return c, nil
	}
	if c.Host == "" {
		return Credentials{}, fault("host", "the secret has no host (RDS-managed secrets hold only username and password): "+
			"add host=… (and port=…, dbname=…) to the DSN", ErrMissingKey)
	}
	port, database := e.Defaults()
	if c.Port == 0 {
		c.Port = port
	}
	if c.Database == "" {
		c.Database = database
	}
	return c, nil
}

// validHost accepts a host name (letters, digits, '-', '_' and '.') or an IP
// address (IPv6 with an optional zone); never a path or anything with URL
// or connection-string syntax.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if strings.Contains(h, ":") {
		a, err := netip.ParseAddr(h)
		return err == nil && hostChars(a.Zone()) // a zone is an interface name or number
	}
	return hostChars(h)
}

func hostChars(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
