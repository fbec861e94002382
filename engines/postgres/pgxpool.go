package postgres

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/enginekit"
	"github.com/secretsql/secretsql/internal/enginekit/authcode"
)

// Hook gives native pgx users — pgxpool, or stdlib.OptionBeforeConnect —
// the credentials of a Secrets Manager secret, from the same cache as the
// secretsmanager-postgres driver, and logs in again inside the same connect
// when a rotation changed the password:
//
//	hook, err := postgres.NewHook("prod/app")
//	if err != nil { … }
//	defer hook.Close()
//	cfg, err := pgxpool.ParseConfig("host=db.internal port=5432 dbname=app sslmode=verify-full")
//	if err != nil { … }
//	hook.Configure(cfg) // cfg.BeforeConnect = hook.BeforeConnect (chained)
//	pool, err := pgxpool.NewWithConfig(ctx, cfg)
//
// The hook sets only User of each connect's configuration, and the
// password of each login while it authenticates (see Hook.BeforeConnect):
// the host, port, database and TLS settings come from the pool's own
// configuration (pgx derives its TLS server name and sslmode fallbacks from
// the host at parse time, so changing the host in a hook is unsafe).
// PostgreSQL and Redshift secrets (and secrets that name no engine) are
// accepted.
//
// # Rotation
//
// pgx has no hook that sees a failed login, and neither pgxpool nor puddle
// retries a failed connect, so the hook follows each login itself. It
// reads the server's start-up messages through the frontend pgx builds
// (pgconn.Config.BuildFrontend), without replacing the connection, so a TLS
// connection stays a *tls.Conn and SCRAM channel binding keeps working
// (channel_binding=prefer and require). AuthenticationOk reports the
// version as working (an AWSPENDING version is then used until AWSCURRENT
// moves, as the driver does). An ErrorResponse with SQLSTATE 28P01 or 28000
// — classified by code, never by text — makes the hook look for newer
// credentials (a version found meanwhile, AWSPENDING, a re-read of
// AWSCURRENT); if there are some and an attempt is left (secretsql.WithRetry),
// the same pgconn.ConnectConfig call logs in again, to the same address with
// the same TLS setting, with the new credentials: pgconn retries a target
// once when an attempt's error is a *pgconn.NotPreferredError, and reads the
// user and password only after AfterNetConnect, where the hook sets them.
// No Acquire fails through a rotation. Otherwise the caller gets pgx's own
// *pgconn.PgError.
//
// Those two pgx behaviours are pgx internals, pinned by this package's tests
// against an in-process server. The hook fails safe: were a pgx release to
// change them, connects would fail with pgx's own 28P01 error (as a hook
// that cannot retry does), never loop, and never fall back to another
// target or to plaintext. pgx retries once, so a connect logs in at most
// twice.
type Hook struct {
	h *secretsql.Handle

	logins       atomic.Int64
	authFailures atomic.Int64
	retries      atomic.Int64
}

// NewHook returns a Hook for the secret; dsn is a secret id with optional
// secretsql DSN keys (`<secret-id>[?region=…&stage=…&ttl=…]`), and the
// options are those of secretsql.NewConnector (WithRetry(1, …) turns the
// retry off). The secret must hold username and password; the host, port
// and database come from the pool's configuration, so an RDS-managed secret
// needs nothing more. Close the Hook when the pool is closed.
func NewHook(dsn string, opts ...secretsql.Option) (*Hook, error) {
	h, err := secretsql.NewHandle(hookEngine, dsn, opts...)
	if err != nil {
		return nil, err
	}
	return &Hook{h: h}, nil
}

// hookEngine is the engine of the Hook's handle: PostgreSQL's, accepting
// Redshift secrets too (the pool's configuration says where to connect).
var hookEngine = enginekit.New("postgres", 5432, "", prepare, authcode.Postgres,
	slices.Concat(postgresSecrets, redshiftSecrets)...)

// Configure sets cfg.BeforeConnect to the hook's, calling any BeforeConnect
// already set first.
func (h *Hook) Configure(cfg *pgxpool.Config) {
	prev := cfg.BeforeConnect
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		if prev != nil {
			if err := prev(ctx, cc); err != nil {
				return err
			}
		}
		return h.BeforeConnect(ctx, cc)
	}
}

// BeforeConnect sets cfg.User from the secret (one GetSecretValue call
// shared by every connect, then the cache), arranges for the secret's
// password to be in the configuration pgconn logs in with only during
// authentication (see Password), and follows the connect's logins (see
// Rotation). It has the signature of pgxpool.Config.BeforeConnect and
// stdlib.OptionBeforeConnect, both of which pass a copy of the
// configuration per connect. DialFunc, AfterNetConnect and BuildFrontend
// already set are kept and called first.
//
// # Password
//
// pgx keeps the configuration of a connect in the *pgconn.ConnectError of
// a failed one (an exported field that a caller may log) and in the
// connection (pgx.Conn.Config), but pgconn needs the password only to
// authenticate. So cfg.Password stays empty: the hook sets the password
// on each login's configuration in AfterNetConnect, after the dial and
// TLS, and clears it as soon as the server accepts or refuses the login,
// or the connection is closed (pgconn closes it on every failure after
// the dial). A connect that fails, refused, rejected or given up by pgconn
// itself, returns an error whose Config holds no password. The dialed
// connection is wrapped for its Close (a TLS connection stays a *tls.Conn
// around it); its NetConn method returns the connection DialFunc made.
func (h *Hook) BeforeConnect(ctx context.Context, cfg *pgx.ConnConfig) error {
	r, err := h.h.Credentials(ctx)
	if err != nil {
		return err
	}
	cfg.User = r.Credentials.Username
	c := &connect{h: h, version: r.VersionID, creds: r.Credentials}
	c.install(cfg)
	return nil
}

// install sets cfg up for connect c: no password in cfg, and c's hooks in
// DialFunc, AfterNetConnect and BuildFrontend, around the ones cfg has.
func (c *connect) install(cfg *pgx.ConnConfig) {
	cfg.Password = ""
	prevDial, prevNet, prevFrontend := cfg.DialFunc, cfg.AfterNetConnect, cfg.BuildFrontend
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := prevDial(ctx, network, addr)
		if err != nil || nc == nil {
			return nc, err
		}
		return &loginConn{Conn: nc, c: c}, nil
	}
	cfg.AfterNetConnect = func(ctx context.Context, pc *pgconn.Config, nc net.Conn) (net.Conn, error) {
		if prevNet != nil {
			var err error
			if nc, err = prevNet(ctx, pc, nc); err != nil {
				return nc, err
			}
		}
		return nc, c.attempt(ctx, pc, nc)
	}
	cfg.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		return prevFrontend(&loginReader{r: r, c: c}, w)
	}
}

// connect is the state of one connect (one pgconn.ConnectConfig call): its
// logins so far and the credentials of the next one. Without a Hook (the
// driver's connects: h is nil), it only keeps the password to the
// authentication of each login. Only the goroutine
// of the connect uses it, but for mu and what mu guards.
type connect struct {
	h        *Hook
	ctx      context.Context
	version  string                // the version the current login uses …
	creds    secretsql.Credentials // … its credentials …
	started  time.Time             // … since
	logins   int
	retry    *secretsql.Resolved // credentials for the retry a rejected login asked for
	target   string              // the rejected login's address …
	targetTL bool                // … and whether it was TLS
	addr     string
	tls      bool

	// A connection may be closed by another goroutine: pgconn's asyncClose
	// (after a failed read) and the pool's close of a connection.
	mu   sync.Mutex
	pc   *pgconn.Config // the configuration that holds the password during a login …
	conn *loginConn     // … and the connection of that login, if found
}

// loginConn is a connection dialed for a connect through the hook: its
// Close takes the password out of the configuration of a login still in
// progress (pgconn closes the connection when it gives a login up).
type loginConn struct {
	net.Conn
	c *connect
}

// Close clears the password of a login in progress on this connection and
// closes it.
func (d *loginConn) Close() error {
	d.c.mu.Lock()
	if d.c.conn == d {
		d.c.clearLocked()
	}
	d.c.mu.Unlock()
	return d.Conn.Close()
}

// NetConn returns the connection that DialFunc made.
func (d *loginConn) NetConn() net.Conn { return d.Conn }

// errOtherTarget refuses a target that pgconn tries while the retry of a
// rejected login is pending: another host, or plaintext after TLS.
var errOtherTarget = errors.New("secretsql: not this target: a login rejected by another is being retried with newer credentials")

// attempt runs in AfterNetConnect, once per connection pgconn opens: it
// puts the login's password in pc, until endLogin.
func (c *connect) attempt(ctx context.Context, pc *pgconn.Config, nc net.Conn) error {
	_, isTLS := nc.(*tls.Conn)
	addr := nc.RemoteAddr().String()
	if c.retry != nil {
		if addr != c.target || isTLS != c.targetTL {
			return errOtherTarget
		}
		pc.User = c.retry.Credentials.Username
		c.version, c.creds, c.retry = c.retry.VersionID, c.retry.Credentials, nil
		c.h.retries.Add(1)
	}
	c.mu.Lock()
	pc.Password = c.creds.Password()
	c.pc, c.conn = pc, dialedOf(nc)
	c.mu.Unlock()
	c.ctx, c.addr, c.tls, c.started = ctx, addr, isTLS, time.Now()
	c.logins++
	return nil
}

// endLogin takes the password out of the login's configuration: the
// server accepted or refused the login, or stopped following the
// protocol.
func (c *connect) endLogin() {
	c.mu.Lock()
	c.clearLocked()
	c.mu.Unlock()
}

// clearLocked clears the password of the login in progress, if any; c.mu
// must be held.
func (c *connect) clearLocked() {
	if c.pc != nil {
		c.pc.Password = ""
	}
	c.pc, c.conn = nil, nil
}

// dialedOf returns the loginConn under nc: nc itself, or the connection
// under a *tls.Conn (or under any wrapper with a NetConn method, as an
// AfterNetConnect may add); nil if there is none.
func dialedOf(nc net.Conn) *loginConn {
	for range 8 {
		switch c := nc.(type) {
		case *loginConn:
			return c
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// rejected decides what follows a login the server refused with code: a
// retry with newer credentials (the returned error makes pgconn log in
// again), or pgx's own error (nil).
func (c *connect) rejected(pe *pgconn.PgError) error {
	if !authcode.Postgres(pe) {
		return nil
	}
	c.h.authFailures.Add(1)
	next, err := c.h.h.Rejected(c.ctx, c.version, min(c.logins, maxLogins))
	if err != nil || next.VersionID == c.version || c.logins >= maxLogins {
		return nil
	}
	c.retry, c.target, c.targetTL = &next, c.addr, c.tls
	return &retryLogin{pg: pe}
}

// maxLogins is what pgconn allows one target: the login and one retry.
const maxLogins = 2

// retryLogin is what the hook's reader returns instead of a rejected
// login's ErrorResponse when newer credentials are known. pgconn retries a
// target once when errors.As finds a *pgconn.NotPreferredError in an
// attempt's error (it was made for target_session_attrs=prefer-standby),
// and stops at once when it finds a *pgconn.PgError 28P01. So retryLogin
// answers errors.As for *NotPreferredError, and for *PgError from the
// second question on: the first is pgconn's own, during that decision;
// later ones (the caller's, had pgconn not retried) get the server's
// original error — so a pgx that no longer retries fails the connect with
// its own 28P01 rather than loop.
type retryLogin struct {
	pg    *pgconn.PgError
	asked atomic.Int32
}

// Error is the server's message.
func (e *retryLogin) Error() string { return e.pg.Error() }

// As answers for *pgconn.NotPreferredError, then for *pgconn.PgError.
func (e *retryLogin) As(target any) bool {
	switch t := target.(type) {
	case **pgconn.NotPreferredError:
		if disableRetry {
			return false
		}
		*t = &pgconn.NotPreferredError{}
		return true
	case **pgconn.PgError:
		if e.asked.Add(1) == 1 {
			return false
		}
		*t = e.pg
		return true
	}
	return false
}

// disableRetry makes retryLogin match nothing but *PgError, as if pgx no
// longer retried: for the tests that pin the fail-safe behaviour.
var disableRetry = false

// loginReader passes the server's bytes to pgx's frontend and follows the
// start-up messages until the login is decided. It never changes a byte: a
// rejected login either reaches pgx as it is, or is replaced by a
// retryLogin error.
type loginReader struct {
	r       io.Reader
	c       *connect
	s       startupSniffer
	pending error // a retryLogin, returned by the next Read
}

func (l *loginReader) Read(p []byte) (int, error) {
	if l.pending != nil {
		return 0, l.pending
	}
	n, err := l.r.Read(p)
	if n == 0 || l.s.done {
		return n, err
	}
	start, retry := l.s.feed(p[:n], l.c)
	if retry == nil {
		return n, err
	}
	if start > 0 { // the bytes before the ErrorResponse first
		l.pending = retry
		return start, nil
	}
	return 0, retry
}

// startupSniffer follows the PostgreSQL backend messages of a connection's
// start-up (type byte, int32 length, body) until the login is decided.
type startupSniffer struct {
	hdr   [5]byte
	hdrN  int
	typ   byte
	left  int    // body bytes still to come
	body  []byte // kept for 'R' and 'E' messages (capped)
	start int    // offset of the current message in the chunk being fed; -1 if it began in an earlier one
	done  bool
}

const maxSniffBody = 4096

// feed takes the next bytes read from the server. When a rejected login
// should be retried it returns the retryLogin error and the offset in b at
// which the ErrorResponse began (0 if it began in an earlier chunk).
func (s *startupSniffer) feed(b []byte, c *connect) (int, error) {
	for off := 0; !s.done && off < len(b); {
		if s.hdrN == 0 {
			s.start = off
		}
		if s.hdrN < len(s.hdr) {
			k := copy(s.hdr[s.hdrN:], b[off:])
			s.hdrN += k
			off += k
			if s.hdrN < len(s.hdr) {
				s.start = -1
				return 0, nil
			}
			s.typ = s.hdr[0]
			n := int(binary.BigEndian.Uint32(s.hdr[1:])) - 4
			if n < 0 || n > 1<<24 {
				s.done = true // not the protocol: stop following
				c.endLogin()
				return 0, nil
			}
			s.left, s.body = n, s.body[:0]
		}
		k := min(len(b)-off, s.left)
		if (s.typ == 'R' || s.typ == 'E') && len(s.body) < maxSniffBody {
			s.body = append(s.body, b[off:off+min(k, maxSniffBody-len(s.body))]...)
		}
		s.left -= k
		off += k
		if s.left > 0 {
			s.start = -1
			return 0, nil
		}
		s.hdrN = 0
		if err := s.message(c); err != nil {
			return max(s.start, 0), err
		}
	}
	return 0, nil
}

// message handles one complete message.
func (s *startupSniffer) message(c *connect) error {
	switch s.typ {
	case 'R': // Authentication*: code 0 is AuthenticationOk
		if len(s.body) >= 4 && binary.BigEndian.Uint32(s.body) == 0 {
			s.done = true
			c.endLogin()
			if c.h != nil {
				c.h.logins.Add(1)
				c.h.h.Accepted(c.version, c.started)
			}
		}
	case 'E': // ErrorResponse: the start-up failed
		s.done = true
		c.endLogin()
		var er pgproto3.ErrorResponse
		if c.h != nil && er.Decode(s.body) == nil {
			return c.rejected(pgconn.ErrorResponseToPgError(&er))
		}
	case 'Z': // ReadyForQuery: start-up over
		s.done = true
		c.endLogin()
	}
	return nil
}

// HookStats counts what a Hook saw.
type HookStats struct {
	// Logins is the number of logins the server accepted.
	Logins int64
	// AuthFailures is the number of logins the server refused with
	// SQLSTATE 28P01 or 28000.
	AuthFailures int64
	// Retries is the number of logins made again, inside the same
	// connect, with newer credentials after a refusal.
	Retries int64
}

// Stats returns the counts so far.
func (h *Hook) Stats() HookStats {
	return HookStats{Logins: h.logins.Load(), AuthFailures: h.authFailures.Load(), Retries: h.retries.Load()}
}

// Resolve returns the credentials the hook would use now, password
// redacted when printed (for diagnostics).
func (h *Hook) Resolve(ctx context.Context) (secretsql.Resolved, error) { return h.h.Credentials(ctx) }

// Close releases the hook's hold on the shared cache; later connects fail
// with secretsql.ErrClosed. Close is idempotent.
func (h *Hook) Close() error { return h.h.Close() }
