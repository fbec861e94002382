package postgres

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secretsql/secretsql"
)

// Hook gives native pgx users — pgxpool, or stdlib.OptionBeforeConnect —
// the credentials of a Secrets Manager secret, from the same process-wide
// cache as the secretsmanager-postgres driver:
//
//	hook, err := postgres.NewHook("prod/app")
//	if err != nil { … }
//	defer hook.Close()
//	cfg, err := pgxpool.ParseConfig("host=db.internal port=5432 dbname=app sslmode=verify-full")
//	if err != nil { … }
//	hook.Configure(cfg) // cfg.BeforeConnect = hook.BeforeConnect (chained)
//	pool, err := pgxpool.NewWithConfig(ctx, cfg)
//
// The hook sets only User and Password of each connect's configuration: the
// host, port, database and TLS settings come from the pool's own
// configuration (pgx derives its TLS server name and sslmode fallbacks from
// the host at parse time, so changing the host in a hook is unsafe).
//
// # Rotation
//
// pgx has no hook that sees a failed login, so the hook watches each
// connection's start-up itself: BeforeConnect wraps the connection
// (pgconn.Config.AfterNetConnect, after TLS, chained with any function
// already set) and reads the server's first protocol messages as they pass.
// AuthenticationOk reports the version as working (an AWSPENDING version
// is then used until AWSCURRENT moves, as the driver does); an
// ErrorResponse with SQLSTATE 28P01 or 28000 — classified by code, never by
// text — makes the hook look for newer credentials before the connect
// returns its error (AWSPENDING: the setSecret→finishSecret window, then a
// re-read of AWSCURRENT), so the next connect uses them.
//
// Unlike the database/sql driver, the hook cannot retry the connect that
// failed: pgxpool returns that error from Acquire. Each connect that had
// already started with the old password when the database changed it fails
// once; the ones after the first failure use the new credentials.
type Hook struct {
	h *secretsql.Handle

	authFailures atomic.Int64
	logins       atomic.Int64
}

// NewHook returns a Hook for the secret; dsn is a secret id with optional
// secretsql DSN keys (`<secret-id>[?region=…&stage=…&ttl=…]`), and the
// options are those of secretsql.NewConnector. The secret must hold
// username and password, and be a PostgreSQL or Redshift secret (or say no
// engine); the host, port and database come from the pool's configuration,
// so an RDS-managed secret needs nothing more. Close the Hook when the pool
// is closed.
func NewHook(dsn string, opts ...secretsql.Option) (*Hook, error) {
	h, err := secretsql.NewHandle(hookEngine{}, dsn, opts...)
	if err != nil {
		return nil, err
	}
	return &Hook{h: h}, nil
}

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

// BeforeConnect sets cfg.User and cfg.Password from the secret (one
// coalesced GetSecretValue call, then the cache) and watches the connect's
// start-up for the outcome of the login. It has the signature of
// pgxpool.Config.BeforeConnect and stdlib.OptionBeforeConnect, both of which
// pass a copy of the configuration per connect.
func (h *Hook) BeforeConnect(ctx context.Context, cfg *pgx.ConnConfig) error {
	r, err := h.credentials(ctx)
	if err != nil {
		return err
	}
	cfg.User = r.Credentials.Username
	cfg.Password = r.Credentials.Password()
	version := r.VersionID
	prev := cfg.AfterNetConnect
	cfg.AfterNetConnect = func(ctx context.Context, pc *pgconn.Config, nc net.Conn) (net.Conn, error) {
		if prev != nil {
			var err error
			if nc, err = prev(ctx, pc, nc); err != nil {
				return nc, err
			}
		}
		return &watchedConn{Conn: nc, s: startupSniffer{
			onAuthOK: func() { h.logins.Add(1); h.h.Accepted(version) },
			onError: func(code string) {
				if code == "28P01" || code == "28000" {
					h.authFailed(ctx, version)
				}
			},
		}}, nil
	}
	return nil
}

// credentials are those to connect with now: after a rejected login, the
// handle hands out the AWSPENDING credentials it found.
func (h *Hook) credentials(ctx context.Context) (secretsql.Resolved, error) {
	return h.h.Credentials(ctx)
}

// hookEngine is the engine of the Hook's handle: PostgreSQL's, accepting
// Redshift secrets too (the pool's configuration says where to connect).
type hookEngine struct{ Engine }

// AcceptsSecretEngine accepts PostgreSQL and Redshift secrets.
func (hookEngine) AcceptsSecretEngine(v string) bool {
	return Engine{}.AcceptsSecretEngine(v) || Engine{redshift: true}.AcceptsSecretEngine(v)
}

// authFailed runs when the server rejected version's credentials: the
// handle looks for newer ones for the following connects.
func (h *Hook) authFailed(ctx context.Context, version string) {
	h.authFailures.Add(1)
	_, _ = h.h.Rejected(ctx, version) // none found: the next connect fails too, and reports again
}

// HookStats counts what a Hook saw.
type HookStats struct {
	// Logins is the number of connects the server authenticated.
	Logins int64
	// AuthFailures is the number of connects the server refused with
	// SQLSTATE 28P01 or 28000.
	AuthFailures int64
}

// Stats returns the counts so far.
func (h *Hook) Stats() HookStats {
	return HookStats{Logins: h.logins.Load(), AuthFailures: h.authFailures.Load()}
}

// Resolve returns the target the hook would use now, password redacted when
// printed (for diagnostics).
func (h *Hook) Resolve(ctx context.Context) (secretsql.Resolved, error) { return h.credentials(ctx) }

// Close releases the hook's hold on the shared cache; later connects fail
// with secretsql.ErrClosed. Close is idempotent.
func (h *Hook) Close() error { return h.h.Close() }

// watchedConn passes every byte through and shows the server's start-up
// messages to a startupSniffer.
type watchedConn struct {
	net.Conn
	done atomic.Bool
	mu   sync.Mutex
	s    startupSniffer
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.done.Load() {
		c.mu.Lock()
		if c.s.feed(p[:n]) {
			c.done.Store(true)
		}
		c.mu.Unlock()
	}
	return n, err
}

// startupSniffer follows the PostgreSQL backend messages of a connection's
// start-up (type byte, int32 length, body) until the login is decided.
type startupSniffer struct {
	onAuthOK func()
	onError  func(sqlstate string)

	hdr  [5]byte
	hdrN int
	typ  byte
	left int    // body bytes still to come
	body []byte // kept for 'R' and 'E' messages (capped)
	done bool
}

const maxSniffBody = 4096

// feed takes the next bytes read from the server and reports whether the
// sniffer is done (the login was decided, or the stream is not understood).
func (s *startupSniffer) feed(b []byte) bool {
	for !s.done && len(b) > 0 {
		if s.hdrN < len(s.hdr) {
			k := copy(s.hdr[s.hdrN:], b)
			s.hdrN += k
			b = b[k:]
			if s.hdrN < len(s.hdr) {
				return false
			}
			s.typ = s.hdr[0]
			n := int(binary.BigEndian.Uint32(s.hdr[1:])) - 4
			if n < 0 || n > 1<<24 {
				s.done = true // not the protocol: stop watching
				return true
			}
			s.left, s.body = n, s.body[:0]
		}
		k := min(len(b), s.left)
		if (s.typ == 'R' || s.typ == 'E') && len(s.body) < maxSniffBody {
			s.body = append(s.body, b[:min(k, maxSniffBody-len(s.body))]...)
		}
		s.left -= k
		b = b[k:]
		if s.left == 0 {
			s.message()
			s.hdrN = 0
		}
	}
	return s.done
}

// message handles one complete message.
func (s *startupSniffer) message() {
	switch s.typ {
	case 'R': // Authentication*: code 0 is AuthenticationOk
		if len(s.body) >= 4 && binary.BigEndian.Uint32(s.body) == 0 {
			s.done = true
			if s.onAuthOK != nil {
				s.onAuthOK()
			}
		}
	case 'E': // ErrorResponse: the start-up failed
		s.done = true
		if s.onError != nil {
			s.onError(sqlState(s.body))
		}
	case 'Z': // ReadyForQuery: start-up over
		s.done = true
	}
}

// sqlState returns the 'C' field of an ErrorResponse body.
func sqlState(body []byte) string {
	for len(body) > 0 && body[0] != 0 {
		code := body[0]
		body = body[1:]
		end := 0
		for end < len(body) && body[end] != 0 {
			end++
		}
		if code == 'C' {
			return string(body[:end])
		}
		if end < len(body) {
			end++
		}
		body = body[end:]
	}
	return ""
}
