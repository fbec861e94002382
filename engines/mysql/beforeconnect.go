package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/enginekit/authcode"
)

// Hook gives go-sql-driver/mysql users who keep their own *mysql.Config the
// credentials of a Secrets Manager secret, from the same cache as the
// secretsmanager-mysql driver:
//
//	hook, err := secretsqlmysql.NewHook("prod/app")
//	if err != nil { … }
//	defer hook.Close()
//	cfg := mysql.NewConfig()
//	cfg.Net, cfg.Addr, cfg.DBName = "tcp", "db.internal:3306", "app"
//	connector, err := hook.Connector(cfg) // the connector handles rotation
//	if err != nil { … }
//	db := sql.OpenDB(connector)
//
// The hook sets only User and Passwd of each connect's configuration (the
// driver's BeforeConnect receives a clone per connect): the address, TLS and
// other settings stay the pool's own, since go-sql-driver/mysql derives the
// TLS server name and dial settings when the Config is normalized, not in a
// hook.
//
// # Rotation
//
// go-sql-driver/mysql has no hook that sees the result of a login, so:
//
//   - With [Hook.Connector] (recommended), a connect the server refuses
//     with an authentication error (1044, 1045, 1698, 1862, 3118, by
//     number) looks for newer credentials — AWSPENDING (the
//     setSecret→finishSecret window), then a re-read of AWSCURRENT — and
//     connects again, with the retry loop of the secretsmanager-mysql
//     driver: the attempts and backoff of secretsql.WithRetry, within the
//     caller's context. A login that works is reported, so an AWSPENDING
//     version is used until AWSCURRENT moves. No query fails through a
//     rotation.
//   - With [Hook.Option] alone, the hook never sees a login fail. Connects
//     keep using the rejected password until the application passes the
//     error to [Hook.ReportError] (or the refresh interval, 1h by default,
//     re-reads the secret), and every connect that had started with the old
//     password fails: measured, 1 to 7 failed queries per rotation with
//     ReportError (six runs; 8 workers, 30 ms connection lifetime, 1 s
//     setSecret→finishSecret window, MariaDB). Use Hook.Connector.
type Hook struct {
	h *secretsql.Handle

	authFailures atomic.Int64
	retries      atomic.Int64

	mu    sync.Mutex
	last  string                     // the version most recently handed out
	byCtx map[context.Context]string // the version each recent connect's context was given
}

// NewHook returns a Hook for the secret; dsn is a secret id with optional
// secretsql DSN keys (`<secret-id>[?region=…&stage=…&ttl=…]`), and the
// options are those of secretsql.NewConnector (WithRetry sets the attempts
// of Hook.Connector). The secret must hold username and password; the
// address and database come from the pool's configuration, so an
// RDS-managed secret needs nothing more. Close the Hook when the pool is
// closed.
func NewHook(dsn string, opts ...secretsql.Option) (*Hook, error) {
	h, err := secretsql.NewHandle(mysqlEngine, dsn, opts...)
	if err != nil {
		return nil, err
	}
	return &Hook{h: h, byCtx: make(map[context.Context]string, maxRemembered)}, nil
}

// Option returns the mysql.Option that installs [Hook.BeforeConnect]:
// cfg.Apply(hook.Option()).
func (h *Hook) Option() mysql.Option { return mysql.BeforeConnect(h.BeforeConnect) }

// BeforeConnect sets cfg.User and cfg.Passwd from the secret (one
// GetSecretValue call shared by every connect, then the cache). It has the
// signature that mysql.BeforeConnect takes.
func (h *Hook) BeforeConnect(ctx context.Context, cfg *mysql.Config) error {
	r, err := h.h.Credentials(ctx)
	if err != nil {
		return err
	}
	setCredentials(cfg, r)
	h.mu.Lock()
	h.last = r.VersionID
	if len(h.byCtx) >= maxRemembered {
		clear(h.byCtx)
	}
	h.byCtx[ctx] = r.VersionID
	h.mu.Unlock()
	return nil
}

func setCredentials(cfg *mysql.Config, r secretsql.Resolved) {
	cfg.User = r.Credentials.Username
	cfg.Passwd = r.Credentials.Password()
}

// maxRemembered bounds the connects whose version ReportError can find.
const maxRemembered = 256

// ReportError tells the hook about an error from a connect or a query of a
// pool configured with [Hook.Option] alone. If the server rejected the
// credentials (judged by the *mysql.MySQLError number), the hook looks for
// newer ones for the following connects and ReportError returns true. Pass
// the context of the query that failed: database/sql connects with it, so
// the hook knows which credentials that login used; with another context
// the hook guesses the ones handed out last, and a wrong guess costs
// failed queries until the next report.
func (h *Hook) ReportError(ctx context.Context, err error) bool {
	if !authcode.MySQL(err) {
		return false
	}
	h.mu.Lock()
	v, ok := h.byCtx[ctx]
	if ok {
		delete(h.byCtx, ctx)
	} else {
		v = h.last
	}
	h.mu.Unlock()
	if v == "" {
		return false
	}
	h.authFailures.Add(1)
	_, _ = h.h.Rejected(ctx, v, 1)
	return true
}

// Connector returns a connector for sql.OpenDB that logs in with the
// settings of cfg and the hook's credentials, and retries a rejected login
// with newer ones. cfg is not changed: the connector uses a clone, with a
// BeforeConnect of the hook's in place of any cfg has. Its errors are
// mysql.NewConnector's. Closing the sql.DB does not close the hook.
func (h *Hook) Connector(cfg *mysql.Config) (driver.Connector, error) {
	own := cfg.Clone()
	if err := own.Apply(mysql.BeforeConnect(attemptCredentials)); err != nil {
		return nil, err
	}
	native, err := mysql.NewConnector(own)
	if err != nil {
		return nil, err
	}
	return &hookConnector{h: h, native: native}, nil
}

type hookConnector struct {
	h      *Hook
	native driver.Connector // go-sql-driver/mysql's, with attemptCredentials installed
}

var _ driver.Connector = (*hookConnector)(nil)

type attemptKey struct{}

// attempt is one login of Hook.Connector: the credentials chosen for it,
// and the configuration the driver logs in with (its per-connect clone,
// which the connection keeps).
type attempt struct {
	r   secretsql.Resolved
	cfg *mysql.Config
}

// attemptCredentials is the BeforeConnect of Hook.Connector's native
// connector: it sets the credentials hookConnector.Connect chose for this
// login.
func attemptCredentials(ctx context.Context, cfg *mysql.Config) error {
	a, ok := ctx.Value(attemptKey{}).(*attempt)
	if !ok {
		return errors.New("secretsql: the connector of Hook.Connector connects only through Hook.Connector")
	}
	setCredentials(cfg, a.r)
	a.cfg = cfg
	return nil
}

// Connect connects with the native connector on the handle's retry loop.
// go-sql-driver/mysql reads the password only while it logs in, but the
// connection keeps the configuration it logged in with, and fmt's %s and
// %q of the connection (sql.Conn.Raw reaches it) print that
// configuration: so the password is cleared from it once the native
// Connect returns.
func (c *hookConnector) Connect(ctx context.Context) (driver.Conn, error) {
	n := 0
	return c.h.h.Connect(ctx, func(ctx context.Context, r secretsql.Resolved) (driver.Conn, error) {
		if n++; n > 1 {
			c.h.retries.Add(1)
		}
		a := &attempt{r: r}
		conn, err := c.native.Connect(context.WithValue(ctx, attemptKey{}, a))
		if a.cfg != nil {
			a.cfg.Passwd = ""
		}
		if authcode.MySQL(err) {
			c.h.authFailures.Add(1)
		}
		return conn, err
	})
}

// Driver returns the native connector's driver.
func (c *hookConnector) Driver() driver.Driver { return c.native.Driver() }

// HookStats counts what a Hook saw.
type HookStats struct {
	// AuthFailures is the number of rejected logins the hook learnt of.
	AuthFailures int64
	// Retries is the number of connects Hook.Connector made again after a
	// rejected login.
	Retries int64
}

// Stats returns the counts so far.
func (h *Hook) Stats() HookStats {
	return HookStats{AuthFailures: h.authFailures.Load(), Retries: h.retries.Load()}
}

// Resolve returns the credentials the hook would use now, password redacted
// when printed (for diagnostics).
func (h *Hook) Resolve(ctx context.Context) (secretsql.Resolved, error) { return h.h.Credentials(ctx) }

// Close releases the hook's hold on the shared cache; later connects fail
// with secretsql.ErrClosed. Close is idempotent.
func (h *Hook) Close() error { return h.h.Close() }
