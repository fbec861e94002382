// Package early registers, from its init function, an engine named "early"
// that package engine's tests use to check the registration of an engine
// recorded before package secretsql installs its hook: it imports package
// engine and not the root package, whose path sorts before its own, so Go
// initializes it first when it is ready first (the Go spec: packages in
// import-path order, each after its imports).
package early

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"net/url"
	"slices"

	"github.com/secretsql/secretsql/credential"
	"github.com/secretsql/secretsql/engine"
)

// Name is the engine's name.
const Name = "early"

// DriverAtRegister reports whether the database/sql driver of the engine
// existed right after Register returned in this package's init function:
// false means the engine was recorded before package secretsql's hook was
// installed.
var DriverAtRegister bool

func init() {
	engine.Register(Engine{})
	DriverAtRegister = slices.Contains(sql.Drivers(), engine.DriverPrefix+Name)
}

// Engine is an engine that opens no connection.
type Engine struct{}

// Name is "early".
func (Engine) Name() string { return Name }

// Defaults are port 1 and no database.
func (Engine) Defaults() (int, string) { return 1, "" }

// AcceptsSecretEngine accepts only "early".
func (Engine) AcceptsSecretEngine(v string) bool { return v == Name }

// Prepare accepts no parameter.
func (e Engine) Prepare(p url.Values) (engine.Prepared, error) {
	if len(p) > 0 {
		return nil, errors.New("early: no parameters")
	}
	return e, nil
}

// Connector refuses to build a connector.
func (Engine) Connector(credential.Credential) (driver.Connector, error) {
	return nil, errors.New("early: no connections")
}

// IsAuthError is always false.
func (Engine) IsAuthError(error) bool { return false }
