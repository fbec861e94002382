package secretsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"log/slog"
	"time"
)

// The native connectors of a Connector: the engine's own, one per version
// of the credentials. A connect's context walks connector.go (Connect) →
// handle.go (the retry loop) → cache.go (the credentials, and the sources in
// source_*.go for a read) and, for each login, this file → the engine.

// native is the engine's connector (or the secret's error building it) for
// one VersionId: a version's value never changes, so a re-read of the same
// version reuses it.
type native struct {
	id     string
	expiry time.Time // a renewal (a Vault lease) keeps the id and moves the expiry: a connector of its own
	conn   driver.Connector
	err    error
}

// maxNatives bounds the native connectors kept per Connector: during a
// rotation at most the old, the pending and the new version are in use.
const maxNatives = 4

// attempt logs in once with version v.
func (c *Connector) attempt(ctx context.Context, v *version) (driver.Conn, error) {
	nc, err := c.nativeFor(v)
	if err != nil {
		return nil, err
	}
	return nc.Connect(ctx)
}

func (c *Connector) isAuthError(err error) bool { return c.engine.IsAuthError(err) }

// nativeFor returns the engine's connector for version v, building it once
// per version. An error of the environment (not a *SecretError) is not
// kept.
func (c *Connector) nativeFor(v *version) (driver.Connector, error) {
	expiry := v.f.cred.Expiry
	if n, ok := c.findNative(v.id, expiry); ok {
		return n.conn, n.err
	}
	c.mu.Lock()
	n, err := c.buildNative(v)
	warn := err == nil && v.f.cred.Retire && !expiry.IsZero() && !c.retires && !c.warned
	c.warned = c.warned || warn
	c.mu.Unlock()
	if warn {
		c.warnNoRetire()
	}
	if err != nil {
		return nil, err
	}
	return n.conn, n.err
}

// buildNative builds (once) the native connector of v. c.mu must be held.
func (c *Connector) buildNative(v *version) (native, error) {
	if n, ok := c.findNative(v.id, v.f.cred.Expiry); ok {
		return n, nil
	}
	n := native{id: v.id, expiry: v.f.cred.Expiry}
	r, err := c.h.resolved(v, true)
	if err == nil {
		n.conn, err = c.native.Connector(r.Credentials)
		var se *SecretError
		switch {
		case errors.As(err, &se):
			fixSecretError(se, v)
		case err != nil:
			return native{}, err // the environment's: not kept
		}
	}
	n.err = err
	list := []native{n}
	if old := c.natives.Load(); old != nil {
		list = append(list, (*old)[:min(len(*old), maxNatives-1)]...)
	}
	c.natives.Store(&list)
	return n, nil
}

func (c *Connector) findNative(id string, expiry time.Time) (native, bool) {
	if list := c.natives.Load(); list != nil {
		for _, n := range *list {
			if n.id == id && n.expiry.Equal(expiry) {
				return n, true
			}
		}
	}
	return native{}, false
}

// warnNoRetire logs, once per Connector, that the engine keeps connections
// made with an expiring credential open past its expiry (see
// engine.Retirer).
func (c *Connector) warnNoRetire() {
	if l := c.h.set.logger; l != nil {
		l.Warn("secretsql: the "+c.engine.Name()+" engine does not retire connections when their credentials expire; "+
			"set (*sql.DB).SetConnMaxLifetime below the credentials' lifetime",
			slog.String("engine", c.engine.Name()), slog.String("source", c.h.info.kind))
	}
}

// fixSecretError names the secret and the version in an engine's
// *SecretError.
func fixSecretError(se *SecretError, v *version) {
	se.SecretARN, se.VersionID = v.f.arn, v.id
	if se.Kind == nil {
		se.Kind = ErrMalformedSecret
	}
}
