package secretsql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/secretsql/secretsql/engine"
)

// secretsqlDriver is the database/sql driver of an engine:
// [engine.Register]
// installs one as "secretsmanager-<engine>", [RegisterDriver] others with
// options. database/sql uses its OpenConnector, so each sql.DB gets one
// [Connector]; the credentials cache is shared by all of them.
type secretsqlDriver struct {
	engine engine.Engine
	opts   []Option

	mu    sync.Mutex
	conns map[string]*Connector // for the legacy Open path
}

var (
	_ driver.Driver        = (*secretsqlDriver)(nil)
	_ driver.DriverContext = (*secretsqlDriver)(nil)
)

// RegisterDriver registers a database/sql driver named name for a
// registered engine ("postgres", "mysql", …) whose Connectors get opts, for
// frameworks and tools that take only a driver name and a DSN:
//
//	err := secretsql.RegisterDriver("pg-logged", "postgres", secretsql.WithLogger(logger))
//	db, err := sql.Open("pg-logged", "prod/app?sslmode=verify-full")
//
// The options are checked now. It fails if the engine is not registered
// (import its package first) or the name is taken.
func RegisterDriver(name, engine string, opts ...Option) error {
	e, err := lookupEngine(engine)
	if err != nil {
		return err
	}
	if _, err := newConfig(opts); err != nil {
		return err
	}
	if slices.Contains(sql.Drivers(), name) {
		return optErr("RegisterDriver", "a database/sql driver named "+strconv.Quote(name)+" is registered already")
	}
	registerDriver(name, e, slices.Clone(opts))
	return nil
}

func registerDriver(name string, e engine.Engine, opts []Option) {
	sql.Register(name, &secretsqlDriver{engine: e, opts: opts})
}

// String names the driver's engine; its cached Connectors never reach fmt.
func (d *secretsqlDriver) String() string { return "secretsql driver for " + d.engine.Name() }

// Format implements fmt.Formatter: every verb prints String.
func (d *secretsqlDriver) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, d.String()) }

// OpenConnector parses the DSN and returns a [Connector] with the driver's
// options.
func (d *secretsqlDriver) OpenConnector(dsn string) (driver.Connector, error) {
	cfg, err := newConfig(d.opts)
	if err != nil {
		return nil, err
	}
	return newConnector(d.engine, d, dsn, &cfg)
}

// Open opens one connection. database/sql never calls it (it prefers
// OpenConnector); direct callers share one Connector per DSN, kept for the
// life of the process.
func (d *secretsqlDriver) Open(dsn string) (driver.Conn, error) {
	d.mu.Lock()
	c := d.conns[dsn]
	if c == nil {
		dc, err := d.OpenConnector(dsn)
		if err != nil {
			d.mu.Unlock()
			return nil, err
		}
		c = dc.(*Connector)
		if d.conns == nil {
			d.conns = map[string]*Connector{}
		}
		d.conns[dsn] = c
	}
	d.mu.Unlock()
	return c.Connect(context.Background())
}
