package secretsql

import (
	"fmt"
	"strings"

	"github.com/secretsql/secretsql/credential"
	"github.com/secretsql/secretsql/engine"
	"github.com/secretsql/secretsql/internal/registry"
)

// Credentials is what secretsql resolves from a credential source and the
// DSN overrides before it builds a native connector: a
// [credential.Credential], whose password is kept behind a pointer and read
// with Password, so that no fmt verb, slog handler or encoding/json ever
// shows it, even when Credentials sits in an unexported field of another
// struct.
type Credentials = credential.Credential

// init registers the database/sql driver of every engine that
// [engine.Register] records, including those recorded before this package
// was initialized.
func init() { registry.SetHook(registerEngineDriver) }

// registerEngineDriver registers the driver "secretsmanager-<name>" of the
// engine recorded under name.
func registerEngineDriver(name string) {
	e, ok := engine.Lookup(name)
	if !ok {
		panic("secretsql: engine " + name + " announced but not registered")
	}
	registerDriver(engine.DriverPrefix+name, e, nil)
}

func lookupEngine(name string) (engine.Engine, error) {
	e, ok := engine.Lookup(name)
	if !ok {
		all := engine.All()
		names := make([]string, 0, len(all))
		for _, e := range all {
			names = append(names, e.Name())
		}
		return nil, fmt.Errorf("%w: %q (registered: %s; import github.com/secretsql/secretsql/engines/%s)",
			ErrUnknownEngine, name, strings.Join(names, ", "), strings.ToLower(name))
	}
	return e, nil
}
