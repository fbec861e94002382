package mysql

import (
	"context"
	"database/sql/driver"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/secretsql/secretsql"
)

// Hook gives go-sql-driver/mysql users who keep their own *mysql.Config the
// credentials of a Secrets Manager secret, from the same process-wide cache
// as the secretsmanager-mysql driver:
//
//	hook, err := secretsqlmysql.NewHook("prod/app")
//	if err != nil { … }
//	defer hook.Close()
//	cfg := mysql.NewConfig()
//	cfg.Net, cfg.Addr, cfg.DBName = "tcp", "db.internal:3306", "app"
//	if err := cfg.Apply(hook.Option()); err != nil { … }
//	native, err := mysql.NewConnector(cfg)
//	if err != nil { … }
//	db := sql.OpenDB(hook.Connector(native)) // the wrapper handles rotation
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
//   - With [Hook.Connector] wrapping the native connector (recommended), a
//     connect the server refuses with an authentication error (1044, 1045,
//     1698, 1862, 3118, by number) makes the hook look for newer credentials —
//     AWSPENDING (the setSecret→finishSecret window), then a re-read of
//     AWSCURRENT — and connect again, up to 5 attempts within the caller's
//     context, as the secretsmanager-mysql driver does. A login that works
//     is reported, so an AWSPENDING version is used until AWSCURRENT moves.
//   - With [Hook.Option] alone, the hook never learns that a login failed
//     unless the application passes the error to [Hook.ReportError]; until
//     then (or until the refresh interval, 1h by default, re-reads the
//     secret) connects keep using the rejected password.
type Hook struct {
	c *secretsql.Connector

	mu   sync.Mutex
	last string // the version most recently handed out

	authFailures atomic.Int64
	retries      atomic.Int64
}

// maxHookAttempts bounds the logins of one Connect through Hook.Connector.
const maxHookAttempts = 5

// NewHook returns a Hook for the secret; dsn is a secret id with optional
// secretsql DSN keys (`<secret-id>[?region=…&stage=…&ttl=…]`), as for
// secretsql.NewConnector with the engine "mysql". The secret must hold
// username and password; a secret without a host (an RDS-managed secret)
// needs host=… in dsn, although the hook does not use it. Close the Hook when
// the pool is closed.
func NewHook(dsn string, opts ...secretsql.Option) (*Hook, error) {
	c, err := secretsql.NewConnector("mysql", dsn, opts...)
	if err != nil {
		return nil, err
	}
	return &Hook{c: c}, nil
}

// Option returns the mysql.Option that installs [Hook.BeforeConnect]:
// cfg.Apply(hook.Option()).
func (h *Hook) Option() mysql.Option { return mysql.BeforeConnect(h.BeforeConnect) }

type attemptKey struct{}

// attempt records which version one connect used.
type attempt struct{ version string }

// BeforeConnect sets cfg.User and cfg.Passwd from the secret (one coalesced
// GetSecretValue call, then the cache). It has the signature that
// mysql.BeforeConnect takes.
func (h *Hook) BeforeConnect(ctx context.Context, cfg *mysql.Config) error {
	r, err := h.credentials(ctx)
	if err != nil {
		return err
	}
	cfg.User = r.Credentials.Username
	cfg.Passwd = r.Credentials.Password
	if a, ok := ctx.Value(attemptKey{}).(*attempt); ok {
		a.version = r.VersionID
	}
	h.mu.Lock()
	h.last = r.VersionID
	h.mu.Unlock()
	return nil
}

// credentials are those to connect with now: after a rejected login, the
// Connector hands out the AWSPENDING credentials it found.
func (h *Hook) credentials(ctx context.Context) (secretsql.Resolved, error) {
	return h.c.Resolve(ctx)
}

// authFailed runs when the server rejected version's credentials; it
// reports whether other credentials are now known.
func (h *Hook) authFailed(ctx context.Context, version string) bool {
	h.authFailures.Add(1)
	next, err := h.c.ReportAuthFailure(ctx, version)
	return err == nil && next.VersionID != version
}

// ReportError tells the hook about an error from a connect or a query of a
// pool configured with [Hook.Option] alone. If the server rejected the
// credentials (judged by the *mysql.MySQLError number), the hook looks for
// newer ones for the following connects and ReportError returns true.
func (h *Hook) ReportError(ctx context.Context, err error) bool {
	if !(Engine{}).IsAuthError(err) {
		return false
	}
	h.mu.Lock()
	v := h.last
	h.mu.Unlock()
	if v == "" {
		return false
	}
	h.authFailed(ctx, v)
	return true
}

// Connector wraps a go-sql-driver/mysql connector whose Config has
// [Hook.Option] applied, so that a rejected login is retried with newer
// credentials; open it with sql.OpenDB. Closing the sql.DB closes native
// (if it is an io.Closer), not the hook.
func (h *Hook) Connector(native driver.Connector) driver.Connector {
	return &hookConnector{h: h, native: native}
}

type hookConnector struct {
	h      *Hook
	native driver.Connector
}

var (
	_ driver.Connector = (*hookConnector)(nil)
	_ io.Closer        = (*hookConnector)(nil)
)

// Connect connects with the native connector, retrying authentication
// failures with newer credentials.
func (c *hookConnector) Connect(ctx context.Context) (driver.Conn, error) {
	for n := 1; ; n++ {
		a := &attempt{}
		conn, err := c.native.Connect(context.WithValue(ctx, attemptKey{}, a))
		if err == nil {
			if a.version != "" {
				c.h.c.ReportSuccess(a.version)
			}
			return conn, nil
		}
		if a.version == "" || !(Engine{}).IsAuthError(err) {
			return nil, err // not ours (no hook installed), or not the credentials
		}
		found := c.h.authFailed(ctx, a.version)
		if n >= maxHookAttempts || ctx.Err() != nil {
			return nil, err
		}
		if !found {
			// Nothing newer yet: another connect may find it, or the
			// min refresh interval may pass.
			d := time.Duration(float64(50*time.Millisecond<<(n-1)) * (0.5 + rand.Float64()/2))
			t := time.NewTimer(min(d, time.Second))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, err
			case <-t.C:
			}
		}
		c.h.retries.Add(1)
	}
}

// Driver returns the native connector's driver.
func (c *hookConnector) Driver() driver.Driver { return c.native.Driver() }

// Close closes the native connector if it can be closed.
func (c *hookConnector) Close() error {
	if cl, ok := c.native.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

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

// Resolve returns the target the hook would use now, password redacted when
// printed (for diagnostics).
func (h *Hook) Resolve(ctx context.Context) (secretsql.Resolved, error) { return h.credentials(ctx) }

// Close releases the hook's hold on the shared cache; later connects fail
// with secretsql.ErrClosed. Close is idempotent.
func (h *Hook) Close() error { return h.c.Close() }
