package secretsql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretsql/secretsql/engine"
)

var sentinels = []error{
	ErrInvalidDSN, ErrInvalidOption, ErrUnknownEngine, ErrSecretNotFound, ErrAccessDenied, ErrSecretDeleted,
	ErrDecryption, ErrThrottled, ErrSecretsManager, ErrMalformedSecret, ErrMissingKey, ErrEngineMismatch,
	ErrAuthFailed, ErrClosed,
}

// TestEachErrorMatchesOneSentinel checks the promise of errors.go on the
// errors of every kind that secretsql makes.
func TestEachErrorMatchesOneSentinel(t *testing.T) {
	f := newFixture(t)
	cases := map[string]error{}
	record := func(name string, err error) {
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		cases[name] = err
	}
	_, err := openConnector(f.eng, "bad?port=x")
	record("dsn", err)
	_, err = openConnector(f.eng, "db", WithRetry(0, 0))
	record("option", err)
	_, err = NewConnector("nosuch", "db")
	record("engine", err)
	for name, code := range map[string]string{"throttled": "ThrottlingException", "denied": "AccessDeniedException",
		"decryption": "DecryptionFailure", "server": "InternalServiceError", "deleted": "InvalidRequestException"} {
		f.sm.FailNext(get, 1, code)
		_, err := f.connector(f.name + "?stage=" + name).Connect(context.Background())
		record("fetch "+name, err)
	}
	_, err = f.connector("no/such").Connect(context.Background())
	record("not found", err)
	for name, value := range map[string]string{"malformed": "not json", "missing": `{"username":"app"}`,
		"mismatch": `{"engine":"mysql","host":"h","username":"u","password":"p"}`} {
		f.sm.CreateSecret("bad/"+name, value)
		_, err := f.connector("bad/" + name).Connect(context.Background())
		record("secret "+name, err)
	}
	// An AuthError whose re-read failed: it carries the FetchError but
	// matches only ErrAuthFailed.
	c := f.connector(f.name, WithRetry(2, time.Millisecond))
	connectAs(t, c, "pw1")
	f.db.setPassword("app", "changed")
	f.sm.FailNext(get, 10, "ThrottlingException")
	_, err = c.Connect(context.Background())
	var ae *AuthError
	if !errors.As(err, &ae) || !errors.Is(ae.FetchErr, ErrThrottled) {
		t.Fatalf("auth failure with a throttled re-read: %v", err)
	}
	record("auth", err)
	c.Close()
	_, err = c.Connect(context.Background())
	record("closed", err)
	for name, err := range cases {
		var matched []string
		for _, s := range sentinels {
			if errors.Is(err, s) {
				matched = append(matched, s.Error())
			}
		}
		if len(matched) != 1 {
			t.Errorf("%s: %v matches %d sentinels %q, want exactly one", name, err, len(matched), matched)
		}
	}
}

// holder keeps Credentials and Resolved where fmt cannot call their
// methods: in unexported fields, by value and by pointer, nested.
type holder struct {
	name  string
	creds Credentials
	res   Resolved
	ptr   *Resolved
	inner struct{ c Credentials }
	Pub   Credentials
}

// TestCredentialsNestedRedacted: no fmt verb, slog handler or encoding/json
// shows the password of Credentials or Resolved in a caller's struct.
func TestCredentialsNestedRedacted(t *testing.T) {
	const pw = "Sup3r$ecret-nested"
	c := Credentials{Host: "h", Port: 1, Username: "u", Database: "d"}.WithPassword(pw)
	r := Resolved{Engine: "postgres", Credentials: c}
	h := holder{name: "x", creds: c, res: r, ptr: &r, Pub: c}
	h.inner.c = c
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%p"} {
		for _, v := range []any{h, &h, []holder{h}, map[string]holder{"k": h}, struct{ h holder }{h}} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
	}
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "h", h, "ptr", &h)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "h", h, "ptr", &h)
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, buf.String(), string(js))
	for _, o := range outs {
		if strings.Contains(o, pw) || strings.Contains(o, fmt.Sprintf("%x", pw)) || strings.Contains(o, fmt.Sprintf("%X", pw)) {
			t.Fatalf("password in %q", o)
		}
	}
	if c.Password() != pw || h.inner.c.Password() != pw {
		t.Fatal("the password itself was lost")
	}
}

// TestRegisterDriver: a driver registered with options gives its
// Connectors those options.
func TestRegisterDriver(t *testing.T) {
	f := newFixture(t)
	var events atomic.Int64
	name := "secretsql-test-" + strings.ReplaceAll(t.Name(), "/", "-") + fmt.Sprint(time.Now().UnixNano())
	registerOnce.Do(func() { engine.Register(testEngine{name: "cachetest", srv: cacheTestServer}) })
	cacheTestServer.setPassword("app", "pw1")
	err := RegisterDriver(name, "cachetest", WithClient(f.client), WithCache(f.cache), WithObserver(func(Event) { events.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(name, f.name)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	if events.Load() == 0 {
		t.Error("the registered driver's observer saw no event")
	}
	for _, tc := range []struct {
		name, engine string
		opts         []Option
		want         error
	}{
		{name, "cachetest", nil, ErrInvalidOption},
		{name + "-2", "nosuch", nil, ErrUnknownEngine},
		{name + "-3", "cachetest", []Option{nil}, ErrInvalidOption},
		{name + "-4", "cachetest", []Option{WithRetry(0, 0)}, ErrInvalidOption},
	} {
		if err := RegisterDriver(tc.name, tc.engine, tc.opts...); !errors.Is(err, tc.want) {
			t.Errorf("RegisterDriver(%q, %q): %v, want %v", tc.name, tc.engine, err, tc.want)
		}
	}
}
