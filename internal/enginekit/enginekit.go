// Package enginekit assembles the engines under engines/: each states what
// it is as data (name, defaults, the secret "engine" values it accepts) and
// provides two functions (prepare a DSN's parameters, classify a rejected
// login), which New turns into an [engine.Engine].
package enginekit

import (
	"net/url"
	"slices"

	"github.com/secretsql/secretsql/engine"
)

// Engine is an [engine.Engine] made of data and the engine's functions.
type Engine struct {
	name          string
	port          int
	database      string
	secretEngines []string
	prepare       func(url.Values) (engine.Prepared, error)
	isAuthError   func(error) bool
}

var _ engine.Engine = Engine{}

// New returns the engine name, whose server listens on port by default,
// whose connections go to database when neither the secret nor the DSN
// names one ("" lets the server choose), which checks a DSN's driver
// parameters with prepare and classifies rejected logins with isAuthError,
// and which accepts secrets whose "engine" key holds one of secretEngines.
func New[P engine.Prepared](name string, port int, database string, prepare func(url.Values) (P, error),
	isAuthError func(error) bool, secretEngines ...string) Engine {
	return Engine{name: name, port: port, database: database, secretEngines: secretEngines, isAuthError: isAuthError,
		prepare: func(params url.Values) (engine.Prepared, error) {
			p, err := prepare(params)
			if err != nil {
				return nil, err // not a typed nil
			}
			return p, nil
		}}
}

// Name is the engine's name: the database/sql driver is
// "secretsmanager-" + Name.
func (e Engine) Name() string { return e.name }

// Defaults are the port and the database used when neither the secret nor
// the DSN gives one.
func (e Engine) Defaults() (port int, database string) { return e.port, e.database }

// AcceptsSecretEngine reports whether a secret whose "engine" key holds v
// fits the engine.
func (e Engine) AcceptsSecretEngine(v string) bool { return slices.Contains(e.secretEngines, v) }

// Prepare checks a DSN's driver parameters once.
func (e Engine) Prepare(params url.Values) (engine.Prepared, error) { return e.prepare(params) }

// IsAuthError reports whether err means the server rejected the credentials.
func (e Engine) IsAuthError(err error) bool { return e.isAuthError(err) }
