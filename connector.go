package secretsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/secretsql/secretsql/engine"
)

// Connector is a driver.Connector that resolves credentials from a Secrets
// Manager secret at connect time. It is safe for concurrent use; open it with
// sql.OpenDB. Closing the sql.DB closes the Connector.
type Connector struct {
	engine engine.Engine
	drv    driver.Driver
	native engine.Prepared // the engine's configuration for the DSN
	h      *Handle

	mu      sync.Mutex               // serializes builds
	natives atomic.Pointer[[]native] // newest first, at most maxNatives; replaced, never changed
	retires bool                     // the engine retires connections whose credentials expired (engine.Retirer)
	warned  bool                     // it does not, and that was logged; under mu
}

var (
	_ driver.Connector = (*Connector)(nil)
	_ io.Closer        = (*Connector)(nil)
	_ attempter        = (*Connector)(nil)
)

// NewConnector returns a Connector for the registered engine ("postgres",
// "redshift", "mysql", "mariadb", "sqlserver", "oracle"; import its package
// under engines/) and a DSN of the form `<secret-id>[?key=value&…]`.
//
// It parses and checks the DSN and the driver parameters at once, but reads
// no secret: the first Connect does. Options apply in order; DSN keys take
// precedence over options.
func NewConnector(engine, dsn string, opts ...Option) (*Connector, error) {
	e, err := lookupEngine(engine)
	if err != nil {
		return nil, err
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newConnector(e, nil, dsn, &cfg)
}

func newConnector(e engine.Engine, drv driver.Driver, dsn string, cfg *config) (*Connector, error) {
	d, err := parseDSNWith(dsn, cfg.source != nil)
	if err != nil {
		return nil, err
	}
	if d.token != nil {
		if err := tokenParams(e.Name(), &d); err != nil {
			return nil, err
		}
	}
	prepared, err := e.Prepare(d.params)
	if err != nil {
		var de *DSNError
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, &DSNError{Reason: "the " + e.Name() + " driver rejects the DSN parameters", Err: err}
	}
	if drv == nil {
		drv = &secretsqlDriver{engine: e}
	}
	h, err := openHandle(e, &d, cfg)
	if err != nil {
		return nil, err
	}
	_, retires := prepared.(engine.Retirer)
	return &Connector{engine: e, drv: drv, native: prepared, h: h, retires: retires}, nil
}

// Connect resolves the credentials (from the cache, or one GetSecretValue
// call shared by every connect waiting) and returns the engine's own
// driver.Conn, unwrapped. When the database rejects the credentials it
// looks for newer ones — a version another connect already found,
// AWSPENDING (a rotation's setSecret→finishSecret window), then a fresh
// AWSCURRENT — and retries with backoff within ctx. Errors that are not
// authentication failures are the driver's own, returned at once.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	return c.h.connect(ctx, c)
}

// Driver returns the secretsql driver of the Connector's engine.
func (c *Connector) Driver() driver.Driver { return c.drv }

// Close lets go of the Connector's cached secret (kept for the next reader
// for its refresh interval, with no background refresh meanwhile) and makes
// later connects fail with ErrClosed. Open connections are not affected.
// Close is idempotent and never waits.
func (c *Connector) Close() error { return c.h.Close() }

// Resolve reads the secret through the Connector's cache and returns what a
// connect would use now, without connecting. It is meant for diagnostics
// (the secretsql CLI).
func (c *Connector) Resolve(ctx context.Context) (Resolved, error) {
	v, err := c.h.current(ctx)
	if err != nil {
		return Resolved{}, err
	}
	return c.h.resolved(v, true)
}

// Refresh reads the secret now rather than at the end of the refresh
// interval (sharing a read already in flight), for programs that learn of a
// rotation by other means; connects use the new version at once. It
// returns the read's error; the cached value stays in use if it fails.
func (c *Connector) Refresh(ctx context.Context) error { return c.h.refresh(ctx) }

// Resolved describes the target a Connector resolved. Its Credentials never
// print the password.
type Resolved struct {
	Engine       string      // the secretsql engine, e.g. "postgres"
	SecretID     string      // as in the DSN
	SecretARN    string      // the secret's full ARN
	VersionID    string      // the version the credentials come from
	Stage        string      // the staging label the version was read by
	SecretEngine string      // the secret's "engine" key, "" if absent
	Region       string      // the region of the Secrets Manager client
	Endpoint     string      // "" for the SDK's default endpoint
	Credentials  Credentials // after the DSN's overrides; the password never prints
}

// String describes the Connector by its engine, secret and stage; it never
// shows credentials.
func (c *Connector) String() string {
	return fmt.Sprintf("secretsql.Connector{engine: %s, secret: %s, stage: %s}", c.engine.Name(), c.h.dsn.secretID, c.h.stage)
}
