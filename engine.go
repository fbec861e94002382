package secretsql

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// DriverPrefix is prepended to an engine's name to form the name under which
// its driver is registered with database/sql: "secretsmanager-postgres".
const DriverPrefix = "secretsmanager-"

// Engine adapts one native database/sql driver to secretsql. Each package
// under engines/ implements it and calls [Register] from its init function;
// applications never implement it themselves, but may (for a driver secretsql
// does not ship).
//
// The root package calls an Engine only at connect time: it never sees a
// statement, a transaction or a row.
type Engine interface {
	// Name is the engine's short name, as used by [NewConnector] and in
	// errors: "postgres", "mysql", "sqlserver". The database/sql driver is
	// registered as [DriverPrefix] + Name.
	Name() string

	// DefaultPort is the port used when neither the secret nor the DSN sets one.
	DefaultPort() int

	// DefaultDatabase is the database used when neither the secret nor the
	// DSN names one; "" lets the server choose.
	DefaultDatabase() string

	// AcceptsSecretEngine reports whether a secret whose "engine" key holds
	// value (already lower-cased, never empty) fits this engine. A secret
	// without an "engine" key (RDS-managed secrets) is always accepted.
	AcceptsSecretEngine(value string) bool

	// NewConnector builds the native connector for one version of the
	// credentials, using the driver's own configuration types and parsers.
	// params holds every DSN key that secretsql itself does not use; an
	// unknown or malformed one is an error. NewConnector must not do I/O:
	// secretsql also calls it with placeholder credentials when a DSN is
	// opened, to report bad parameters early.
	NewConnector(c Credentials, params url.Values) (driver.Connector, error)

	// IsAuthError reports whether err, returned by a native connector's
	// Connect, means that the server rejected the credentials. It must decide
	// by the driver's error type and code, never by message text.
	IsAuthError(err error) bool
}

// Credentials is what secretsql resolves from a secret and the DSN overrides
// before it builds a native connector. Its Password never appears in the
// output of fmt (any verb) or slog.
type Credentials struct {
	Host     string // the database host name or IP address
	Port     int    // the database port
	Username string // the login user
	Password string // the login password; redacted in every output
	Database string // the database (the service name for Oracle)
}

// String describes the credentials without the password.
func (c Credentials) String() string {
	return fmt.Sprintf("{Host:%s Port:%d Username:%s Password:%s Database:%s}",
		c.Host, c.Port, c.Username, redactedIf(c.Password), c.Database)
}

// GoString is like String, for the %#v verb.
func (c Credentials) GoString() string {
	return fmt.Sprintf("secretsql.Credentials{Host:%q, Port:%d, Username:%q, Password:%q, Database:%q}",
		c.Host, c.Port, c.Username, redactedIf(c.Password), c.Database)
}

// Format implements fmt.Formatter so that every verb, including %v, %+v,
// %#v, %s and %q, prints the redacted form.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(c.GoString()))
		return
	}
	s := c.String()
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = f.Write([]byte(s))
}

// LogValue implements slog.LogValuer: the password is never logged.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.Int("port", c.Port),
		slog.String("username", c.Username),
		slog.String("password", redactedIf(c.Password)),
		slog.String("database", c.Database),
	)
}

// MarshalJSON encodes the credentials with the password redacted, so that
// encoding/json (and slog's JSON handler) never reveals it.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Host     string `json:"host"`
		Port     int    `json:"port"`
		Username string `json:"username"`
		Password string `json:"password"`
		Database string `json:"database"`
	}{c.Host, c.Port, c.Username, redactedIf(c.Password), c.Database})
}

func redactedIf(s string) string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

var (
	enginesMu sync.RWMutex
	engines   = map[string]Engine{}
)

// Register makes an engine available to [NewConnector] under its Name and
// registers a database/sql driver for it under [DriverPrefix] + Name. It
// panics if called twice with the same name, like [sql.Register].
func Register(e Engine) {
	name := strings.ToLower(e.Name())
	enginesMu.Lock()
	if _, dup := engines[name]; dup {
		enginesMu.Unlock()
		panic("secretsql: Register called twice for engine " + name)
	}
	engines[name] = e
	enginesMu.Unlock()
	sql.Register(DriverPrefix+name, &Driver{engine: e})
}

// Engines returns the names of the registered engines, sorted.
func Engines() []string {
	enginesMu.RLock()
	defer enginesMu.RUnlock()
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookupEngine(name string) (Engine, error) {
	enginesMu.RLock()
	e, ok := engines[strings.ToLower(name)]
	enginesMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (registered: %s; import github.com/secretsql/secretsql/engines/%s)",
			ErrUnknownEngine, name, strings.Join(Engines(), ", "), strings.ToLower(name))
	}
	return e, nil
}
