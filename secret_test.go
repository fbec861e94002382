package secretsql

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestParseSecret(t *testing.T) {
	good := map[string]secretValue{
		`{"engine":"postgres","host":"h","port":5433,"username":"u","password":"p","dbname":"d"}`: {"postgres", "h", 5433, "u", "p", "d"},
		`{"engine":"Aurora-PostgreSQL","host":" h ","port":"5433","username":"u","password":"p"}`: {"aurora-postgresql", "h", 5433, "u", "p", ""},
		`{"username":"u","password":"p"}`: {username: "u", password: "p"},
		`{"username":"u","password":"p","port":null,"masterarn":"arn:x","dbClusterIdentifier":1}`: {username: "u", password: "p"},
		` {"username":"u","password":"p\"\\\u00e9"} `:                                             {username: "u", password: "p\"\\é"},
	}
	for raw, want := range good {
		got, err := parseSecret([]byte(raw), "arn", "v1")
		if err != nil || got != want {
			t.Errorf("parseSecret(%s) = %+v, %v; want %+v", raw, got, err, want)
		}
	}
	const sentinel = "S3ntinel-pw"
	for raw, want := range map[string]struct {
		kind error
		key  string
	}{
		``:                                              {ErrMissingKey, ""},
		`not json ` + sentinel:                          {ErrMalformedSecret, ""},
		`["` + sentinel + `"]`:                          {ErrMalformedSecret, ""},
		`{"password":"` + sentinel + `",}`:              {ErrMalformedSecret, ""},
		`{"password":` + sentinel + `}`:                 {ErrMalformedSecret, ""},
		`{"password":5,"username":"u"}`:                 {ErrMalformedSecret, "password"},
		`{"password":"x","username":["u"]}`:             {ErrMalformedSecret, "username"},
		`{"password":"x","port":"54x` + sentinel + `"}`: {ErrMalformedSecret, "port"},
		`{"password":"x","port":70000}`:                 {ErrMalformedSecret, "port"},
		`{"password":"x","port":5432.5}`:                {ErrMalformedSecret, "port"},
		`{"password":"x","host":{"a":1}}`:               {ErrMalformedSecret, "host"},
	} {
		_, err := parseSecret([]byte(raw), "arn:sec", "v1")
		var se *SecretError
		if !errors.Is(err, want.kind) || !errors.As(err, &se) || se.Key != want.key || se.SecretARN != "arn:sec" {
			t.Errorf("parseSecret(%s) = %v; want %v for key %q", raw, err, want.kind, want.key)
			continue
		}
		if strings.Contains(err.Error(), sentinel) || strings.Contains(err.Error(), "54x") {
			t.Errorf("error quotes the secret value: %v", err)
		}
	}
}

func TestResolve(t *testing.T) {
	e := testEngine{name: "pgtest"}
	s := secretValue{engine: "postgres", host: "h", username: "u", password: "p"}
	c, err := resolve(s.credential(), e, &dsnConfig{}, "arn", "v", true)
	if err != nil || c.String() != (Credentials{Host: "h", Port: 5432, Username: "u", Database: "defaultdb"}).WithPassword("p").String() || c.Password() != "p" {
		t.Fatalf("defaults: %v %v", c, err)
	}
	c, err = resolve(secretValue{username: "u", password: "p"}.credential(), e, &dsnConfig{host: "x", port: 1, dbname: "db", hasDB: true}, "arn", "v", true)
	if err != nil || c.String() != (Credentials{Host: "x", Port: 1, Username: "u", Database: "db"}).WithPassword("p").String() || c.Password() != "p" {
		t.Fatalf("overrides: %v %v", c, err)
	}
	for _, tt := range []struct {
		s    secretValue
		kind error
		key  string
	}{
		{secretValue{engine: "mysql", host: "h", username: "u", password: "p"}, ErrEngineMismatch, "engine"},
		{secretValue{host: "h", password: "p"}, ErrMissingKey, "username"},
		{secretValue{host: "h", username: "u"}, ErrMissingKey, "password"},
		{secretValue{username: "u", password: "p"}, ErrMissingKey, "host"},
	} {
		_, err := resolve(tt.s.credential(), e, &dsnConfig{}, "arn:x", "v9", true)
		var se *SecretError
		if !errors.Is(err, tt.kind) || !errors.As(err, &se) || se.Key != tt.key {
			t.Errorf("resolve(%+v) = %v, want %v on %q", tt.s, err, tt.kind, tt.key)
		}
		if tt.kind == ErrEngineMismatch && (!strings.Contains(err.Error(), `"mysql"`) || !strings.Contains(err.Error(), "secretsmanager-pgtest")) {
			t.Errorf("mismatch error does not name both engines: %v", err)
		}
	}
}

func TestCredentialsRedacted(t *testing.T) {
	const pw = "Sup3r$ecret"
	c := Credentials{Host: "h", Port: 1, Username: "u", Database: "d"}.WithPassword(pw)
	r := Resolved{Engine: "postgres", Credentials: c}
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "creds", c, "resolved", r)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "creds", c, "resolved", r, "ptr", &r)
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	outs := []string{buf.String(), string(js)}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T"} {
		outs = append(outs, fmt.Sprintf(f, c), fmt.Sprintf(f, &c), fmt.Sprintf(f, r), fmt.Sprintf(f, &r))
	}
	for _, o := range outs {
		if strings.Contains(o, pw) {
			t.Fatalf("password in %q", o)
		}
	}
	if !strings.Contains(fmt.Sprint(c), "Username:u") || !strings.Contains(fmt.Sprintf("%#v", c), "[REDACTED]") {
		t.Errorf("unexpected form: %v / %#v", c, c)
	}
}
