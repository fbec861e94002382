package engine_test

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/credential"
	"github.com/secretsql/secretsql/engine"
	"github.com/secretsql/secretsql/engine/internal/early"
)

// fakeEngine is an engine that opens no connection.
type fakeEngine struct{ name string }

func (e fakeEngine) Name() string                  { return e.name }
func (fakeEngine) Defaults() (int, string)         { return 1, "" }
func (fakeEngine) AcceptsSecretEngine(string) bool { return true }
func (fakeEngine) IsAuthError(error) bool          { return false }

// Prepare rejects every driver parameter.
func (e fakeEngine) Prepare(p url.Values) (engine.Prepared, error) {
	if len(p) > 0 {
		return nil, errors.New("fake: no parameters")
	}
	return e, nil
}

func (fakeEngine) Connector(credential.Credential) (driver.Connector, error) {
	return nil, errors.New("fake: no connections")
}

func names(list []engine.Engine) []string {
	var out []string
	for _, e := range list {
		out = append(out, e.Name())
	}
	return out
}

// TestRegister: an engine is found by its name in any case, listed in
// order, and gets the database/sql driver "secretsmanager-<name>" of
// package secretsql, which NewConnector and sql.Open use.
func TestRegister(t *testing.T) {
	e := fakeEngine{name: "RegTestB"}
	engine.Register(e)
	engine.Register(fakeEngine{name: "regtesta"})

	for _, n := range []string{"RegTestB", "regtestb", "REGTESTB"} {
		if got, ok := engine.Lookup(n); !ok || got != e {
			t.Errorf("Lookup(%q) = %v, %v; want the engine", n, got, ok)
		}
	}
	if got, ok := engine.Lookup("regtestc"); ok {
		t.Errorf("Lookup of an unregistered name = %v, true", got)
	}
	all := names(engine.All())
	if !slices.IsSorted(all) {
		t.Errorf("All() = %v, not sorted by name", all)
	}
	for _, n := range []string{"RegTestB", "regtesta", early.Name} {
		if !slices.Contains(all, n) {
			t.Errorf("All() = %v, without %s", all, n)
		}
	}

	if !slices.Contains(sql.Drivers(), engine.DriverPrefix+"regtestb") {
		t.Fatalf("no database/sql driver %sregtestb in %v", engine.DriverPrefix, sql.Drivers())
	}
	c, err := secretsql.NewConnector("regtestb", "prod/app?region=eu-west-1")
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	_ = c.Close()
	db, err := sql.Open(engine.DriverPrefix+"regtestb", "prod/app?region=eu-west-1&bad=1")
	if err == nil {
		_ = db.Close()
	}
	var de *secretsql.DSNError
	if !errors.As(err, &de) {
		t.Fatalf("sql.Open with a parameter the engine rejects: %v, want a *secretsql.DSNError", err)
	}
}

// TestRegisterTwicePanics: a second engine of the same name, in any case,
// and an engine whose driver name is taken both panic, like sql.Register.
func TestRegisterTwicePanics(t *testing.T) {
	first := fakeEngine{name: "twice"}
	engine.Register(first)
	mustPanic(t, "the same name", func() { engine.Register(fakeEngine{name: "Twice"}) })
	if got, _ := engine.Lookup("twice"); got != first {
		t.Errorf("after a second Register, Lookup = %v, want the first engine", got)
	}

	sql.Register(engine.DriverPrefix+"clash", clashDriver{})
	mustPanic(t, "a driver name taken", func() { engine.Register(fakeEngine{name: "clash"}) })
}

type clashDriver struct{}

func (clashDriver) Open(string) (driver.Conn, error) { return nil, errors.New("clash: no connections") }

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("Register with %s did not panic", what)
		}
	}()
	f()
}

// TestEngineRegisteredBeforeSecretsql: package early registers its engine
// from its init function before package secretsql's init installs the hook
// that registers drivers; the engine must get its driver all the same.
func TestEngineRegisteredBeforeSecretsql(t *testing.T) {
	if early.DriverAtRegister {
		t.Fatal("package early was initialized after package secretsql: this test no longer checks an engine registered before the hook")
	}
	if !slices.Contains(sql.Drivers(), engine.DriverPrefix+early.Name) {
		t.Fatalf("no database/sql driver %s%s in %v", engine.DriverPrefix, early.Name, sql.Drivers())
	}
	c, err := secretsql.NewConnector(early.Name, "prod/app?region=eu-west-1")
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	_ = c.Close()
}
