package secretsql

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"sync"
)

// Driver is the database/sql driver that [Register] installs for an engine
// under the name [DriverPrefix] + engine name. database/sql uses its
// OpenConnector, so each sql.DB gets one [Connector]; the credentials cache
// is shared by all of them.
type Driver struct {
	engine Engine

	mu    sync.Mutex
	conns map[string]*Connector // for the legacy Open path
}

var (
	_ driver.Driver        = (*Driver)(nil)
	_ driver.DriverContext = (*Driver)(nil)
)

// String names the driver; its cached Connectors never reach fmt.
func (d *Driver) String() string { return "secretsql.Driver{" + DriverPrefix + d.engine.Name() + "}" }

// GoString is String, for %#v.
func (d *Driver) GoString() string { return d.String() }

// Format implements fmt.Formatter: every verb prints String.
func (d *Driver) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, d.String()) }

// OpenConnector parses the DSN (`<secret-id>[?key=value&…]`) and returns a
// [Connector]. The AWS client comes from the SDK's default configuration
// chain; use [NewConnector] with options for anything else.
func (d *Driver) OpenConnector(dsn string) (driver.Connector, error) {
	return newConnector(d.engine, d, dsn, nil)
}

// Open opens one connection. database/sql never calls it (it prefers
// OpenConnector); direct callers share one Connector per DSN, kept for the
// life of the process.
func (d *Driver) Open(dsn string) (driver.Conn, error) {
	d.mu.Lock()
	c := d.conns[dsn]
	if c == nil {
		var err error
		if c, err = newConnector(d.engine, d, dsn, nil); err != nil {
			d.mu.Unlock()
			return nil, err
		}
		if d.conns == nil {
			d.conns = map[string]*Connector{}
		}
		d.conns[dsn] = c
	}
	d.mu.Unlock()
	return c.Connect(context.Background())
}
