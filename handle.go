package secretsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretsql/secretsql/engine"
)

// Handle is one reader's hold on a secret in a [Cache], for code that logs
// in to the database itself rather than through a secretsql driver: the
// native pool hooks of engines/postgres (pgxpool) and engines/mysql. It
// hands out the credentials to use, learns which ones the database rejected
// or accepted, and looks for newer ones with the same rules, shared reads
// and rate limits as the drivers. Connectors use one inside.
//
// A Handle is safe for concurrent use. Close it when the pool closes.
type Handle struct {
	e     *entry
	eng   engine.Engine
	set   settings
	dsn   dsnConfig
	stage string // the staging label read
	info  sourceInfo

	closed    atomic.Bool
	closeOnce sync.Once
}

var _ io.Closer = (*Handle)(nil)

// NewHandle opens a Handle on the secret that dsn names:
// `<secret-id>[?key=value&…]` with the secretsql DSN keys (region,
// endpoint, stage, ttl, and host, port, dbname to override the secret's).
// Driver parameters have no place here: they belong to the pool's own
// configuration. The options are those of [NewConnector]. The engine
// decides which secrets fit ([engine.Engine.AcceptsSecretEngine]) and which errors
// are rejected logins ([engine.Engine.IsAuthError]); it need not be registered. No
// secret is read until the first call that needs one.
func NewHandle(engine engine.Engine, dsn string, opts ...Option) (*Handle, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	d, err := parseDSNWith(dsn, cfg.source != nil)
	if err != nil {
		return nil, err
	}
	for k := range d.params {
		return nil, &DSNError{Key: k, Reason: "a Handle takes only the secretsql keys (region, endpoint, stage, ttl, host, port, dbname): put driver parameters in the pool's configuration"}
	}
	return openHandle(engine, &d, &cfg)
}

// openHandle attaches a new Handle to the cache entry its options and DSN
// select.
func openHandle(eng engine.Engine, d *dsnConfig, cfg *config) (*Handle, error) {
	src, err := newSource(d, cfg)
	if err != nil {
		return nil, err
	}
	return attachHandle(eng, d, cfg, src)
}

// attachHandle attaches a new Handle reading through src.
func attachHandle(eng engine.Engine, d *dsnConfig, cfg *config, src source) (*Handle, error) {
	set, stage := cfg.settingsFor(d, src.describe())
	if _, ok := src.(*smSource); !ok {
		stage = ""
	}
	h := &Handle{eng: eng, set: set, dsn: *d, stage: stage, info: src.describe()}
	c := cfg.cache
	if c == nil {
		c = defaultCache
	}
	var err error
	if h.e, err = c.attach(h, src); err != nil {
		return nil, err
	}
	return h, nil
}

// Credentials returns the credentials to log in with now: from the cache,
// or read once for every caller waiting. They hold the secret's values with
// the DSN's host, port and dbname overrides, and no defaults: a value the
// secret lacks stays empty, but for username and password, which are
// required.
func (h *Handle) Credentials(ctx context.Context) (Resolved, error) {
	v, err := h.current(ctx)
	if err != nil {
		return Resolved{}, err
	}
	return h.resolved(v, false)
}

// Rejected tells the Handle that the database rejected the credentials of
// versionID (as [Handle.Credentials] returned them) at the attempt-th login
// of one connect, and returns the ones to try next: a version read
// meanwhile, AWSPENDING (a rotation's setSecret→finishSecret window), or a
// fresh read of the secret — reads shared with every other reader and
// rate-limited by [WithMinRefreshInterval]. Connects that start afterwards
// get the new credentials from Credentials at once. The error matches
// [ErrAuthFailed] when there are none but those rejected, and when attempt
// has reached the attempts of [WithRetry] (the connect must fail; the
// rejection and what the reads find serve the next connects).
func (h *Handle) Rejected(ctx context.Context, versionID string, attempt int) (Resolved, error) {
	if h.closed.Load() {
		return Resolved{}, ErrClosed
	}
	failed := h.e.find(versionID)
	if failed == nil { // an old version, or none read yet: what is in use now
		return h.Credentials(ctx)
	}
	h.emit(Event{Kind: EventAuthFailed, Stage: failed.f.stage, VersionID: failed.id, Context: ctx})
	// With no attempt left, the reads are still made (rate-limited, shared)
	// for the next connects, but this one does not wait for the interval.
	q := newerQuery{failed: failed, wait: attempt < h.set.maxAttempts}
	next, err := h.e.newer(ctx, h, q)
	var nn *noNewerError
	if errors.As(err, &nn) {
		return Resolved{}, &AuthError{Engine: h.eng.Name(), SecretARN: h.arnOf(failed), VersionID: failed.id, Attempts: attempt,
			Err: errNoNewer, FetchErr: nn.fetchErr}
	}
	if err != nil {
		return Resolved{}, err
	}
	if attempt >= h.set.maxAttempts {
		return Resolved{}, &AuthError{Engine: h.eng.Name(), SecretARN: h.arnOf(failed), VersionID: failed.id, Attempts: attempt, Err: errNoNewer}
	}
	return h.resolved(next, false)
}

// errNoNewer is the cause of the AuthError of Rejected.
var errNoNewer = errors.New("no credentials other than the rejected ones, or no attempt left")

// Accepted tells the Handle that the credentials of versionID logged in,
// at a login that began at started (before its password was sent): an
// AWSPENDING version is then used until AWSCURRENT changes, as the drivers
// do. A rejection of the version reported after started stands: under
// load, a login checked before a rotation changed the password can report
// its success after other logins were refused.
func (h *Handle) Accepted(versionID string, started time.Time) {
	if v := h.e.find(versionID); v != nil {
		h.emit(h.e.accepted(v, started)...)
	}
}

// Connect logs in with connect and the current credentials; when the
// engine's IsAuthError says the database rejected them, it looks for newer
// ones as [Handle.Rejected] does and logs in again, up to the attempts of
// [WithRetry] with its backoff between attempts that found nothing new,
// within ctx. This is the retry loop of the secretsql drivers. An error
// that is not an authentication failure is returned as it is; after the
// last rejected attempt the error is an [*AuthError] wrapping connect's.
func (h *Handle) Connect(ctx context.Context, connect func(context.Context, Resolved) (driver.Conn, error)) (driver.Conn, error) {
	return h.connect(ctx, funcAttempter{h: h, connect: connect})
}

type funcAttempter struct {
	h       *Handle
	connect func(context.Context, Resolved) (driver.Conn, error)
}

func (a funcAttempter) attempt(ctx context.Context, v *version) (driver.Conn, error) {
	r, err := a.h.resolved(v, false)
	if err != nil {
		return nil, err
	}
	return a.connect(ctx, r)
}

func (a funcAttempter) isAuthError(err error) bool { return a.h.eng.IsAuthError(err) }

// refresh reads the secret now, as a background refresh would (sharing a
// read in flight), and returns the read's error.
func (h *Handle) refresh(ctx context.Context) error {
	if h.closed.Load() {
		return ErrClosed
	}
	return h.e.refresh(ctx, h)
}

// Close lets go of the cached secret (which stays cached for its refresh
// interval, for the next reader); later calls fail with ErrClosed. Close is
// idempotent and never waits: it may be called from an observer.
func (h *Handle) Close() error {
	h.closeOnce.Do(func() {
		h.closed.Store(true)
		h.e.release(h)
	})
	return nil
}

// current returns the version to use now.
func (h *Handle) current(ctx context.Context) (*version, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	return h.e.current(ctx, h)
}

// attempter is one way to log in with a version: a Connector's native
// connectors, or Handle.Connect's function.
type attempter interface {
	attempt(ctx context.Context, v *version) (driver.Conn, error)
	isAuthError(err error) bool
}

// connect is the retry loop: log in with the current version; after a
// rejection, with what newer finds; back off when it finds nothing new.
func (h *Handle) connect(ctx context.Context, a attempter) (driver.Conn, error) {
	v, err := h.current(ctx)
	if err != nil {
		return nil, err
	}
	var (
		tried    map[string]bool // versions rejected in this connect; nil until one is
		fetchErr error
		fixTried bool
	)
	for n := 1; ; n++ {
		started := h.e.loginStart()
		conn, err := a.attempt(ctx, v)
		if err == nil {
			h.emit(h.e.accepted(v, started)...)
			return conn, nil
		}
		var se *SecretError
		if errors.As(err, &se) && se.VersionID == v.id {
			// A value of this version cannot be used: once per connect
			// (and at most once per minimum refresh interval per secret),
			// look for a newer version that fixes it.
			if fixTried {
				return nil, err
			}
			fixTried = true
			next, nerr := h.e.newer(ctx, h, newerQuery{failed: v, broken: true})
			if nerr != nil {
				return nil, err
			}
			v, n = next, n-1
			continue
		}
		if !a.isAuthError(err) {
			return nil, err
		}
		if tried == nil {
			tried = map[string]bool{}
		}
		tried[v.id] = true
		h.emit(Event{Kind: EventAuthFailed, Stage: v.f.stage, VersionID: v.id, Err: err, Context: ctx})
		authErr := &AuthError{Engine: h.eng.Name(), SecretARN: h.arnOf(v), VersionID: v.id, Attempts: n, Err: err, FetchErr: fetchErr,
			hint: h.info.authHint}
		if n >= h.set.maxAttempts || ctx.Err() != nil {
			return nil, authErr
		}
		next, nerr := h.e.newer(ctx, h, newerQuery{failed: v, tried: tried, wait: true})
		var nn *noNewerError
		switch {
		case errors.As(nerr, &nn):
			if nn.fetchErr != nil {
				fetchErr = nn.fetchErr
			}
			next = v
		case nerr != nil: // the caller's context ended, or the handle closed
			return nil, authErr
		}
		if tried[next.id] {
			if !sleep(ctx, backoff(h.set.backoff, n, time.Second)) {
				return nil, authErr
			}
			if now := h.e.peek(); now != nil {
				next = now
			}
		}
		v = next
	}
}

// resolved describes version v, with the Connector's rules if complete
// (see resolve).
func (h *Handle) resolved(v *version, complete bool) (Resolved, error) {
	r := Resolved{Engine: h.eng.Name(), SecretID: h.dsn.secretID, SecretARN: h.arnOf(v), VersionID: v.id, Stage: v.f.stage,
		SecretEngine: v.f.cred.Engine, Region: h.info.region, Endpoint: h.info.endpoint}
	if v.f.err != nil {
		return r, v.f.err
	}
	creds, err := resolve(v.f.cred, h.eng, &h.dsn, r.SecretARN, v.id, complete)
	r.Credentials = creds
	return r, err
}

// arnOf names the credential's origin in errors: the secret's ARN, else
// the DSN's id.
func (h *Handle) arnOf(v *version) string {
	if v.f.arn != "" {
		return v.f.arn
	}
	return h.dsn.secretID
}

// emit logs events and passes them to the observer.
func (h *Handle) emit(evs ...Event) {
	for _, ev := range evs {
		h.emitOne(ev)
	}
}

// emitOne logs one event and passes it to the observer.
func (h *Handle) emitOne(ev Event) {
	ev.Engine = h.eng.Name()
	if ev.SecretID == "" {
		ev.SecretID = h.dsn.secretID
	}
	if ev.Source == "" {
		ev.Source = h.info.kind
	}
	if ev.Region == "" {
		ev.Region = h.info.region
	}
	if l := h.set.logger; l != nil {
		level, msg := slog.LevelDebug, "secretsql: "+ev.Kind.String()
		switch ev.Kind {
		case EventAuthFailed, EventFetchFailed, EventStaleServed, EventFailover:
			level = slog.LevelWarn
		case EventPendingAdopted:
			level = slog.LevelInfo
		}
		attrs := []slog.Attr{slog.String("engine", ev.Engine), slog.String("secret", ev.SecretID), slog.String("stage", ev.Stage),
			slog.String("source", ev.Source)}
		if ev.Region != "" {
			attrs = append(attrs, slog.String("region", ev.Region))
		}
		if ev.VersionID != "" {
			attrs = append(attrs, slog.String("version", ev.VersionID))
		}
		if ev.Duration != 0 {
			attrs = append(attrs, slog.Duration("took", ev.Duration))
		}
		if ev.Err != nil {
			attrs = append(attrs, slog.String("error", ev.Err.Error()))
		}
		lctx := ev.Context
		if lctx == nil {
			lctx = context.Background()
		}
		l.LogAttrs(lctx, level, msg, attrs...)
	}
	if h.set.observer != nil {
		h.set.observer(ev)
	}
}
