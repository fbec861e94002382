package engine

import (
	"database/sql/driver"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/secretsql/secretsql/credential"
	"github.com/secretsql/secretsql/internal/registry"
)

// DriverPrefix is prepended to an engine's name to form the name under which
// its driver is registered with database/sql: "secretsmanager-postgres".
const DriverPrefix = "secretsmanager-"

// Engine adapts one native database/sql driver to secretsql. Each package
// under engines/ implements it and calls [Register] from its init function;
// applications never implement it themselves, but may (for a driver secretsql
// does not ship).
//
// secretsql calls an Engine only when a DSN is opened and when a connection
// is opened: it never sees a statement, a transaction or a row.
type Engine interface {
	// Name is the engine's short name, as used by
	// [github.com/secretsql/secretsql.NewConnector] and in errors:
	// "postgres", "mysql", "sqlserver". The database/sql driver is
	// registered as [DriverPrefix] + Name.
	Name() string

	// Defaults are the port used when neither the secret nor the DSN sets
	// one, and the database used when neither names one ("" lets the server
	// choose).
	Defaults() (port int, database string)

	// AcceptsSecretEngine reports whether a secret whose "engine" key holds
	// value (already lower-cased, never empty) fits this engine. A secret
	// without an "engine" key (RDS-managed secrets) is always accepted.
	AcceptsSecretEngine(value string) bool

	// Prepare parses and checks the driver parameters of a DSN (every DSN
	// key that secretsql does not use itself) once, when the DSN is opened;
	// an unknown or malformed one is an error, reported by sql.Open and
	// [github.com/secretsql/secretsql.NewConnector]. Its result builds the
	// native connectors of that DSN.
	Prepare(params url.Values) (Prepared, error)

	// IsAuthError reports whether err, returned by a native connector's
	// Connect, means that the server rejected the credentials. It must decide
	// by the driver's error type and code, never by message text.
	IsAuthError(err error) bool
}

// Prepared is an engine's configuration for one DSN, parsed once with the
// driver's own types and parsers: Connector copies it for each version of
// the credentials.
type Prepared interface {
	// Connector builds the native connector for one version of the
	// credentials. It must not do network I/O. It returns a
	// [*github.com/secretsql/secretsql.SecretError] (Key and Reason set;
	// secretsql fills in the secret and version) when a value of the
	// credentials cannot be used: secretsql then blames the secret and
	// remembers the error for that version. Any other error (a certificate
	// file that cannot be read, say) is the environment's: it is returned
	// to the caller as it is and not remembered.
	Connector(c credential.Credential) (driver.Connector, error)
}

// Retirer is implemented by a [Prepared] whose connections retire
// themselves when the credential they logged in with expires: a
// connection made with a credential that has an Expiry and Retire set is
// discarded by database/sql at its first reuse from the credential's last
// usable moment on ([credential.UsableUntil]), so that no session outlives
// its database user (a Vault lease ends its user; the server does not end
// the user's open sessions). For an engine whose Prepared is not a
// Retirer, secretsql logs a warning once per Connector that uses such a
// credential: the pool's own setting, (*sql.DB).SetConnMaxLifetime, must
// then be below the credential's lifetime.
type Retirer interface {
	Prepared
	RetiresExpired()
}

var (
	mu      sync.RWMutex
	engines = map[string]Engine{}
)

// Register makes an engine available to
// [github.com/secretsql/secretsql.NewConnector] under its Name (matched
// without regard to case) and registers a database/sql driver for it under
// [DriverPrefix] + Name, lower-cased (see the package documentation for
// when). It panics if called twice with the same name, like sql.Register.
func Register(e Engine) {
	name := strings.ToLower(e.Name())
	mu.Lock()
	if _, dup := engines[name]; dup {
		mu.Unlock()
		panic("secretsql: Register called twice for engine " + name)
	}
	engines[name] = e
	mu.Unlock()
	registry.Announce(name)
}

// Lookup returns the engine registered under name, matched without regard
// to case, and whether there is one.
func Lookup(name string) (Engine, bool) {
	mu.RLock()
	defer mu.RUnlock()
	e, ok := engines[strings.ToLower(name)]
	return e, ok
}

// All returns the registered engines, sorted by name.
func All() []Engine {
	mu.RLock()
	defer mu.RUnlock()
	list := make([]Engine, 0, len(engines))
	for _, e := range engines {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name() < list[j].Name() })
	return list
}
