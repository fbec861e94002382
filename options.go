package secretsql

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/secretsql/secretsql/credential"
)

// Defaults of the options.
const (
	defaultRefreshInterval    = time.Hour
	defaultMinRefreshInterval = time.Second
	defaultMaxAttempts        = 5
	defaultRetryBackoff       = 50 * time.Millisecond
	defaultFetchTimeout       = 30 * time.Second
)

// GetSecretValueAPI is the one Secrets Manager call secretsql makes.
// *secretsmanager.Client implements it.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput,
		optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Option configures a [Connector], a driver registered with
// [RegisterDriver] or a [Handle]. Options are applied in order.
type Option func(*config) error

type config struct {
	source     credential.Source
	awsConfig  *aws.Config
	client     GetSecretValueAPI
	cache      *Cache
	stage      string
	refresh    time.Duration
	refreshSet bool // WithRefreshInterval was given
	set        settings
}

// settings are what one reader of a cache entry brings to it: they apply to
// the reads made for it and to its own connects.
type settings struct {
	ttl          time.Duration // refresh interval
	minRefresh   time.Duration
	maxAttempts  int
	backoff      time.Duration
	fetchTimeout time.Duration
	pendingOK    bool // read AWSPENDING after a rejected login
	noPending    bool // WithoutPendingFallback
	logger       *slog.Logger
	observer     func(Event)
}

// newConfig applies the options to the defaults. A nil option is an error,
// not a panic.
func newConfig(opts []Option) (config, error) {
	cfg := config{
		refresh: defaultRefreshInterval,
		set: settings{
			minRefresh:   defaultMinRefreshInterval,
			maxAttempts:  defaultMaxAttempts,
			backoff:      defaultRetryBackoff,
			fetchTimeout: defaultFetchTimeout,
		},
	}
	for i, o := range opts {
		if o == nil {
			return cfg, optErr("Option", "option "+strconv.Itoa(i+1)+" is nil")
		}
		if err := o(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// settingsFor completes the settings with what the DSN and the source say:
// the DSN's ttl and stage win over the options, which win over the source's
// defaults.
func (c *config) settingsFor(d *dsnConfig, src sourceInfo) (settings, string) {
	s := c.set
	s.ttl = c.refresh
	if src.ttl != 0 && !c.refreshSet {
		s.ttl = src.ttl
	}
	if d.ttl != 0 {
		s.ttl = d.ttl
	}
	stage := StageCurrent
	if c.stage != "" {
		stage = c.stage
	}
	if d.stage != "" {
		stage = d.stage
	}
	s.pendingOK = stage == StageCurrent && !s.noPending && !src.noStages
	return s, stage
}

func optErr(key, reason string) error {
	return &DSNError{Key: key, Reason: reason, option: true}
}

// WithAWSConfig makes secretsql build its Secrets Manager client from cfg
// (credentials, region, endpoint, retries, HTTP client). The DSN keys region
// and endpoint still take precedence. Default: config.LoadDefaultConfig.
func WithAWSConfig(cfg aws.Config) Option {
	return func(c *config) error {
		c.awsConfig = &cfg
		return nil
	}
}

// WithClient makes secretsql use a ready client. *secretsmanager.Client
// implements [GetSecretValueAPI]; the DSN keys region and endpoint are applied
// to it per call. WithClient takes precedence over [WithAWSConfig].
func WithClient(client GetSecretValueAPI) Option {
	return func(c *config) error {
		if client == nil {
			return optErr("WithClient", "nil client")
		}
		c.client = client
		return nil
	}
}

// WithSource makes the Connector read its credentials from src, a source
// of the caller's own, instead of the source a DSN names: the DSN is then
// empty or holds only keys (`?host=…&sslmode=…`). Connectors given the same
// src share its cached credentials; src is closed (if it is an io.Closer)
// when the cache lets go of it. See package credential.
func WithSource(src credential.Source) Option {
	return func(c *config) error {
		if src == nil {
			return optErr("WithSource", "nil source")
		}
		c.source = src
		return nil
	}
}

// WithCache makes the Connector (or Handle) read through c rather than the
// process-wide default cache.
func WithCache(c *Cache) Option {
	return func(cfg *config) error {
		if c == nil {
			return optErr("WithCache", "nil cache")
		}
		cfg.cache = c
		return nil
	}
}

// WithRefreshInterval sets how long a fetched secret is used before one
// background refresh runs; connects keep using the cached value meanwhile.
// Each value is refreshed after a random 90–100% of d; when Connectors with
// different intervals share a cached secret, the shortest applies. A cached
// secret is kept for d after its last Connector closes. The DSN key ttl
// takes precedence. Default: 1h.
func WithRefreshInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second {
			return optErr("WithRefreshInterval", "must be at least 1s")
		}
		c.refresh, c.refreshSet = d, true
		return nil
	}
}

// WithMinRefreshInterval sets the least time between two forced fetches of
// the same staging label of a secret after the database rejected the
// credentials: a wrong password can cost at most two GetSecretValue calls
// (AWSPENDING and AWSCURRENT) per interval. Default:
// 1s.
func WithMinRefreshInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return optErr("WithMinRefreshInterval", "must not be negative")
		}
		c.set.minRefresh = d
		return nil
	}
}

// WithRetry sets the login attempts made by one Connect when the database
// rejects the credentials (attempts ≥ 1), and the first delay between two
// attempts that found no newer credentials; it doubles each time, with
// jitter, up to 1s. The caller's context bounds every wait. Default:
// 5 attempts, 50ms.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(c *config) error {
		if attempts < 1 {
			return optErr("WithRetry", "attempts must be at least 1")
		}
		if backoff < 0 {
			return optErr("WithRetry", "backoff must not be negative")
		}
		c.set.maxAttempts, c.set.backoff = attempts, backoff
		return nil
	}
}

// WithFetchTimeout bounds how long a connect waits for one GetSecretValue
// call. A call runs on behalf of every connect waiting for it, so it does
// not use any caller's context: it runs for the longest fetch timeout of
// the Connectors sharing the cached secret, and each caller stops waiting at
// its own fetch timeout or when its own context ends, so a short timeout of
// one Connector never fails another. Default: 30s.
func WithFetchTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return optErr("WithFetchTimeout", "must be positive")
		}
		c.set.fetchTimeout = d
		return nil
	}
}

// WithVersionStage reads a staging label other than AWSCURRENT. The DSN key
// stage takes precedence. With any label but AWSCURRENT there is no
// AWSPENDING fallback.
func WithVersionStage(stage string) Option {
	return func(c *config) error {
		if stage == "" {
			return optErr("WithVersionStage", "empty staging label")
		}
		c.stage = stage
		return nil
	}
}

// WithoutPendingFallback turns off the AWSPENDING fallback: after the database
// rejects AWSCURRENT's credentials, secretsql then only re-reads AWSCURRENT,
// so connects fail during a rotation's setSecret→finishSecret window.
func WithoutPendingFallback() Option {
	return func(c *config) error {
		c.set.noPending = true
		return nil
	}
}

// WithLogger makes secretsql log fetches, refreshes, authentication failures
// and fallbacks to l (at Debug, Info and Warn). Records name the secret and
// version, never a value. Default: silent.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.set.logger = l
		return nil
	}
}

// WithObserver makes secretsql call fn for every [Event] of the Connector:
// its connects, and the reads of its secret that it made (a read shared
// with other Connectors that read the secret with the same identity is
// reported once, to the one that started it, so an observer given to
// several Connectors counts each read once). fn is called on the
// connecting goroutine or a read's goroutine, never while secretsql holds a
// lock (so it may even close the Connector), and must return quickly; it
// must be safe for concurrent use.
func WithObserver(fn func(Event)) Option {
	return func(c *config) error {
		c.set.observer = fn
		return nil
	}
}

// EventKind tells what happened.
type EventKind int

// The kinds of [Event].
const (
	// EventFetch: a read of the secret succeeded (a GetSecretValue call,
	// or a read of the agent or of a file: see Event.Source).
	EventFetch EventKind = iota + 1
	// EventFetchFailed: a read of the secret failed (Err says why).
	EventFetchFailed
	// EventAuthFailed: the database rejected a version's credentials.
	EventAuthFailed
	// EventPendingAdopted: AWSPENDING's credentials worked while AWSCURRENT's
	// were rejected (a rotation between setSecret and finishSecret); they are
	// used until AWSCURRENT changes.
	EventPendingAdopted
	// EventStaleServed: a background refresh failed and the cached value
	// stays in use.
	EventStaleServed
	// EventFailover: the primary region could not be reached, and the read
	// went to the failover region (Region says which served; Err why the
	// primary did not).
	EventFailover
)

var eventNames = [...]string{"", "fetch", "fetch_failed", "auth_failed", "pending_adopted", "stale_served", "failover"}

// String names the kind.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is what an observer ([WithObserver]) is told. It never holds a
// secret value.
type Event struct {
	Kind      EventKind     // what happened
	Engine    string        // the secretsql engine, e.g. "postgres"
	SecretID  string        // the secret id of the DSN
	Stage     string        // the staging label involved
	VersionID string        // the version involved, if known
	Source    string        // where reads go: "secretsmanager" (the API), "agent" or "file"
	Region    string        // the AWS region that served (or failed) a read, if any
	Duration  time.Duration // of the read, for EventFetch, EventFetchFailed and EventFailover
	Err       error         // for EventFetchFailed, EventAuthFailed, EventStaleServed and EventFailover

	// Context is the context of the connect that caused the event, if one
	// did (a background refresh has none), for tracing: a read shared by
	// several connects carries the context of the one that started it. It
	// is never used to cancel anything.
	Context context.Context
}
