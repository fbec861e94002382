package secretsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Connector is a driver.Connector that resolves credentials from a Secrets
// Manager secret at connect time. It is safe for concurrent use; open it with
// sql.OpenDB. Closing the sql.DB closes the Connector.
type Connector struct {
	engine Engine
	drv    *Driver
	dsn    dsnConfig
	cfg    config
	ttl    time.Duration
	stage  string
	region string
	entry  *entry
	notify func(Event)

	closed    atomic.Bool
	closeOnce sync.Once

	mu       sync.Mutex
	natives  map[string]native // by VersionId
	cand     *version          // for hooks: an AWSPENDING version ReportAuthFailure found, not yet adopted …
	candBase string            // … that Resolve hands out while the cache's version is this one
}

// native is the engine's connector (or the error building it) for one
// VersionId: a version's value never changes, so a re-fetch of the same
// version reuses it.
type native struct {
	conn driver.Connector
	err  error
}

// maxNatives bounds the native connectors kept per Connector: during a
// rotation at most the old, the pending and the new version are in use.
const maxNatives = 4

var (
	_ driver.Connector = (*Connector)(nil)
	_ io.Closer        = (*Connector)(nil)
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
	return newConnector(e, nil, dsn, opts)
}

func newConnector(e Engine, drv *Driver, dsn string, opts []Option) (*Connector, error) {
	d, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	// Report bad driver parameters now rather than at the first connect.
	probe := Credentials{Host: "localhost", Port: e.DefaultPort(), Username: "secretsql", Password: "probe", Database: e.DefaultDatabase()}
	if d.host != "" {
		probe.Host = d.host
	}
	if d.port != 0 {
		probe.Port = d.port
	}
	if d.hasDB {
		probe.Database = d.dbname
	}
	if _, err := e.NewConnector(probe, d.params); err != nil {
		var de *DSNError
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, &DSNError{Reason: "the " + e.Name() + " driver rejects the DSN parameters", Err: err}
	}
	if drv == nil {
		drv = &Driver{engine: e}
	}
	c := &Connector{engine: e, drv: drv, dsn: d, cfg: cfg, ttl: cfg.refresh, stage: StageCurrent, natives: map[string]native{}}
	if d.ttl != 0 {
		c.ttl = d.ttl
	}
	if cfg.stage != "" {
		c.stage = cfg.stage
	}
	if d.stage != "" {
		c.stage = d.stage
	}
	c.notify = c.emit
	client, key, callOpts, err := c.client()
	if err != nil {
		return nil, err
	}
	c.region = key.region
	c.entry = acquire(key, client, callOpts, cfg.fetchTimeout)
	return c, nil
}

// client builds the Secrets Manager client and the cache key.
func (c *Connector) client() (GetSecretValueAPI, cacheKey, []func(*secretsmanager.Options), error) {
	region := c.dsn.region
	if region == "" {
		if a, ok := parseSecretARN(c.dsn.secretID); ok {
			region = a.Region
		}
	}
	endpoint := c.dsn.endpoint
	override := func(o *secretsmanager.Options) {
		if region != "" {
			o.Region = region
		}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}
	key := cacheKey{secretID: c.dsn.secretID, stage: c.stage}
	var client GetSecretValueAPI
	var callOpts []func(*secretsmanager.Options)
	switch {
	case c.cfg.client != nil:
		client = c.cfg.client
		if region != "" || endpoint != "" {
			callOpts = append(callOpts, override)
		}
	default:
		var awsCfg aws.Config
		if c.cfg.awsConfig != nil {
			awsCfg = *c.cfg.awsConfig
		} else {
			var err error
			awsCfg, err = awsconfig.LoadDefaultConfig(context.Background())
			if err != nil {
				return nil, key, nil, &DSNError{Key: "AWS configuration", Reason: "loading the default AWS configuration failed", Err: err, option: true}
			}
		}
		client = secretsmanager.NewFromConfig(awsCfg, override)
	}
	if sm, ok := client.(*secretsmanager.Client); ok {
		o := sm.Options()
		override(&o)
		key.region, key.endpoint = o.Region, aws.ToString(o.BaseEndpoint)
	} else {
		// Another implementation: share the cache among Connectors given
		// the same client.
		key.region, key.endpoint = region, endpoint
		switch rv := reflect.ValueOf(client); {
		case rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Map || rv.Kind() == reflect.Chan:
			key.client = fmt.Sprintf("%T@%x", client, rv.Pointer())
		case rv.Type().Comparable():
			key.client = client
		default: // a func or slice: no identity to compare, so not shared
			key.client = c
		}
	}
	if key.region == "" {
		return nil, key, nil, &DSNError{Key: "region", Reason: "no AWS region: use a full secret ARN, add region=… to the DSN, or set AWS_REGION"}
	}
	return client, key, callOpts, nil
}

// Connect resolves the credentials (from the cache, or one coalesced
// GetSecretValue call) and returns the engine's own driver.Conn, unwrapped.
// When the database rejects the credentials it looks for newer ones — a
// version another connect already found, AWSPENDING (a rotation's
// setSecret→finishSecret window), then a fresh AWSCURRENT — and retries with
// backoff within ctx. Errors that are not authentication failures are the
// driver's own, returned at once.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	v, err := c.entry.get(ctx, c.ttl, c.cfg.minRefresh, c.notify)
	if err != nil {
		return nil, err
	}
	pendingOK := c.stage == StageCurrent && !c.cfg.noPending
	var tried map[string]bool // versions rejected by this connect; nil until one is
	var fetchErr error
	refetched := false
	for attempt := 1; ; attempt++ {
		nc, err := c.native(v)
		if err != nil {
			// The value cannot be used (malformed, a key missing, another
			// engine): once per connect, and at most once per minimum
			// refresh interval per secret, look for a newer version that
			// fixes it rather than wait for the next refresh.
			if !refetched {
				refetched = true
				if next, rerr, _ := c.entry.recover(ctx, v, nil, false, false, c.cfg.minRefresh, c.notify); rerr == nil {
					v = next
					continue
				}
			}
			return nil, err
		}
		conn, err := nc.Connect(ctx)
		if err == nil {
			if v.stage == StagePending && v.stage != c.stage && c.entry.adoptPending(v) {
				c.emit(Event{Kind: EventPendingAdopted, SecretID: c.dsn.secretID, Stage: StagePending, VersionID: v.id})
			}
			return conn, nil
		}
		if !c.engine.IsAuthError(err) {
			return nil, err
		}
		if tried == nil {
			tried = map[string]bool{}
		}
		tried[v.id] = true
		c.emit(Event{Kind: EventAuthFailed, SecretID: c.dsn.secretID, Stage: v.stage, VersionID: v.id, Err: err})
		authErr := &AuthError{Engine: c.engine.Name(), SecretARN: v.arn, VersionID: v.id, Attempts: attempt, Err: err, FetchErr: fetchErr}
		if attempt >= c.cfg.maxAttempts || ctx.Err() != nil {
			return nil, authErr
		}
		next, rerr, ferr := c.entry.recover(ctx, v, tried, pendingOK, true, c.cfg.minRefresh, c.notify)
		if ferr != nil {
			fetchErr, authErr.FetchErr = ferr, ferr
		}
		switch {
		case errors.Is(rerr, errNothingNew):
			next = v
		case rerr != nil: // the caller's context ended, or the connector closed
			return nil, authErr
		}
		if tried[next.id] {
			if !sleep(ctx, backoff(c.cfg.backoff, attempt, time.Second)) {
				return nil, authErr
			}
			if e := c.effective(); e != nil {
				next = e
			}
		}
		v = next
	}
}

// effective is the entry's version in use now.
func (c *Connector) effective() *version {
	c.entry.mu.Lock()
	defer c.entry.mu.Unlock()
	return c.entry.effective()
}

// native returns the engine's connector for version v, building it once per
// version.
func (c *Connector) native(v *version) (driver.Connector, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.natives[v.id]; ok {
		return n.conn, n.err
	}
	var n native
	err := v.err
	var creds Credentials
	if err == nil {
		creds, err = resolve(v.value, c.engine, &c.dsn, v.arn, v.id)
	}
	if err == nil {
		n.conn, err = c.engine.NewConnector(creds, c.dsn.params)
		if err != nil {
			// The DSN's parameters and overrides passed the same check when
			// the Connector was made, so what fails now is a value of the
			// secret.
			se := &SecretError{SecretARN: v.arn, VersionID: v.id, Reason: "the " + c.engine.Name() +
				" driver cannot use the secret's values", Kind: ErrMalformedSecret, Err: err}
			var de *DSNError
			if errors.As(err, &de) {
				se.Key, se.Reason, se.Err = de.Key, de.Reason, de.Err
			}
			err = se
		}
	}
	n.err = err
	if len(c.natives) >= maxNatives {
		for id := range c.natives {
			delete(c.natives, id)
			if len(c.natives) < maxNatives {
				break
			}
		}
	}
	c.natives[v.id] = n
	return n.conn, n.err
}

// Driver returns the secretsql Driver of the Connector's engine.
func (c *Connector) Driver() driver.Driver { return c.drv }

// Close stops the Connector's background work (once no other Connector
// shares its cached secret) and makes later connects fail with ErrClosed.
// Open connections are not affected. Close is idempotent.
func (c *Connector) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.entry.release()
	})
	return nil
}

// Resolve reads the secret through the Connector's cache and returns what a
// connect would use now, without connecting. It is meant for diagnostics
// (the secretsql CLI) and for native hooks such as pgxpool's BeforeConnect.
func (c *Connector) Resolve(ctx context.Context) (Resolved, error) {
	if c.closed.Load() {
		return Resolved{}, ErrClosed
	}
	v, err := c.entry.get(ctx, c.ttl, c.cfg.minRefresh, c.notify)
	if err != nil {
		return Resolved{}, err
	}
	c.mu.Lock()
	if c.cand != nil {
		if v.id == c.candBase {
			v = c.cand
		} else {
			c.cand = nil // the cache has moved on
		}
	}
	c.mu.Unlock()
	return c.resolved(v)
}

func (c *Connector) resolved(v *version) (Resolved, error) {
	r := Resolved{Engine: c.engine.Name(), SecretID: c.dsn.secretID, SecretARN: v.arn, VersionID: v.id,
		Stage: v.stage, SecretEngine: v.value.engine, Region: c.region, Endpoint: c.entry.key.endpoint}
	if v.err != nil {
		return r, v.err
	}
	creds, err := resolve(v.value, c.engine, &c.dsn, v.arn, v.id)
	r.Credentials = creds
	return r, err
}

// ReportAuthFailure tells the Connector that the database rejected the
// credentials of versionID (as returned by Resolve), for hooks that connect
// with a native driver themselves and cannot retry. It looks for newer
// credentials with the same steps as Connect and returns them; if they are
// AWSPENDING's, Resolve hands them out from then on, until [Connector.ReportSuccess]
// adopts them or the cache moves on. errors.Is(err, ErrAuthFailed) when there
// are none but those that failed.
func (c *Connector) ReportAuthFailure(ctx context.Context, versionID string) (Resolved, error) {
	if c.closed.Load() {
		return Resolved{}, ErrClosed
	}
	c.mu.Lock()
	cand := c.cand
	c.mu.Unlock()
	c.entry.mu.Lock()
	eff := c.entry.effective()
	failed := eff
	switch {
	case cand != nil && cand.id == versionID:
		failed = cand
	case eff == nil || eff.id != versionID:
		if p := c.entry.lastPending; p != nil && p.id == versionID {
			failed = p
		}
	}
	c.entry.mu.Unlock()
	if failed == nil {
		return c.Resolve(ctx)
	}
	if failed.id != versionID {
		return c.resolved(failed) // a newer version is known already
	}
	next, rerr, ferr := c.entry.recover(ctx, failed, nil, c.stage == StageCurrent && !c.cfg.noPending, true, c.cfg.minRefresh, c.notify)
	if rerr != nil {
		if errors.Is(rerr, errNothingNew) {
			return Resolved{}, &AuthError{Engine: c.engine.Name(), SecretARN: failed.arn, VersionID: failed.id, Attempts: 1, Err: rerr, FetchErr: ferr}
		}
		return Resolved{}, rerr
	}
	c.mu.Lock()
	if next.stage == StagePending && next.stage != c.stage {
		if now := c.effective(); now != nil && now.id != next.id {
			c.cand, c.candBase = next, now.id
		}
	} else {
		c.cand = nil
	}
	c.mu.Unlock()
	return c.resolved(next)
}

// ReportSuccess tells the Connector that versionID's credentials logged in
// (for hooks that connect themselves): an AWSPENDING version is then used
// until AWSCURRENT changes, as Connect does.
func (c *Connector) ReportSuccess(versionID string) {
	c.entry.mu.Lock()
	p := c.entry.lastPending
	c.entry.mu.Unlock()
	if p == nil || p.id != versionID {
		return
	}
	if c.entry.adoptPending(p) {
		c.emit(Event{Kind: EventPendingAdopted, SecretID: c.dsn.secretID, Stage: StagePending, VersionID: p.id})
	}
	c.mu.Lock()
	c.cand = nil // the cache hands it out now
	c.mu.Unlock()
}

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
	return fmt.Sprintf("secretsql.Connector{engine: %s, secret: %s, stage: %s}", c.engine.Name(), c.dsn.secretID, c.stage)
}

// GoString is String, for %#v.
func (c *Connector) GoString() string { return c.String() }

// Format implements fmt.Formatter: every verb prints String, so the cached
// native connectors (which hold passwords) never reach fmt.
func (c *Connector) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer.
func (c *Connector) LogValue() slog.Value { return slog.StringValue(c.String()) }

// LogValue implements slog.LogValuer; the password is never logged.
func (r Resolved) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("engine", r.Engine), slog.String("secret_id", r.SecretID), slog.String("secret_arn", r.SecretARN),
		slog.String("version", r.VersionID), slog.String("stage", r.Stage), slog.String("secret_engine", r.SecretEngine),
		slog.String("region", r.Region), slog.String("endpoint", r.Endpoint), slog.Any("credentials", r.Credentials))
}

// emit logs an event and passes it to the observer.
func (c *Connector) emit(ev Event) {
	ev.Engine = c.engine.Name()
	if l := c.cfg.logger; l != nil {
		level, msg := slog.LevelDebug, "secretsql: "+ev.Kind.String()
		switch ev.Kind {
		case EventAuthFailed, EventFetchFailed, EventStaleServed:
			level = slog.LevelWarn
		case EventPendingAdopted:
			level = slog.LevelInfo
		}
		attrs := []slog.Attr{slog.String("engine", ev.Engine), slog.String("secret", ev.SecretID), slog.String("stage", ev.Stage)}
		if ev.VersionID != "" {
			attrs = append(attrs, slog.String("version", ev.VersionID))
		}
		if ev.Duration != 0 {
			attrs = append(attrs, slog.Duration("took", ev.Duration))
		}
		if ev.Err != nil {
			attrs = append(attrs, slog.String("error", ev.Err.Error()))
		}
		l.LogAttrs(context.Background(), level, msg, attrs...)
	}
	if c.cfg.observer != nil {
		c.cfg.observer(ev)
	}
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
