package credential

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Credential is one version of database credentials, as a [Source] hands
// it out. Host, Port, Database and Engine are optional (the DSN can set
// them); Username, the password and Version are required.
//
// The password is kept behind a pointer and read with
// [Credential.Password]: no fmt verb, slog handler or encoding/json ever
// shows it, even when a Credential sits in an unexported field of another
// struct.
type Credential struct {
	Username string // the login user
	Host     string // the database host, "" to take it from the DSN
	Port     int    // the database port, 0 for the DSN's or the engine's default
	Database string // the database name, "" for the DSN's or the engine's default
	Engine   string // the engine the credentials are for ("postgres", "mysql", …), "" if not known

	// Version names this credential: two credentials with the same
	// Version are the same. The cache tells a rejected credential from a
	// newer one by it. A secret's version id, a hash of a file, a lease id.
	Version string

	// Expiry is when the database stops accepting the credential; zero if
	// it does not expire. The cache reads a new one ahead of it and never
	// hands out a credential in the last part of its life (see [Usable]).
	Expiry time.Time

	// Retire says that no connection made with the credential may outlive
	// its Expiry: a Vault lease's user is dropped then, but the server
	// ends none of its open sessions. Engines that can (see
	// [github.com/secretsql/secretsql/engine.Retirer]) close such
	// connections at their first reuse after the credential's usable life.
	// An IAM token, which only a login checks, leaves it false.
	Retire bool

	password *string
}

// Password returns the login password.
func (c Credential) Password() string {
	if c.password == nil {
		return ""
	}
	return *c.password
}

// WithPassword returns a copy of c with the login password set to pw.
func (c Credential) WithPassword(pw string) Credential {
	c.password = &pw
	return c
}

// String describes the credential without the password.
func (c Credential) String() string {
	pw := ""
	if c.Password() != "" {
		pw = "[REDACTED]"
	}
	return fmt.Sprintf("{Host:%s Port:%d Username:%s Password:%s Database:%s}", c.Host, c.Port, c.Username, pw, c.Database)
}

// Format implements fmt.Formatter so that every verb, including %v, %+v,
// %#v, %s and %q, prints the redacted form of String.
func (c Credential) Format(f fmt.State, verb rune) {
	s := c.String()
	switch {
	case verb == 'v' && f.Flag('#'):
		s = "credential.Credential" + s
	case verb == 'q':
		s = strconv.Quote(s)
	}
	_, _ = f.Write([]byte(s))
}

// Usable reports whether c may still be handed out for a login at now: it
// has no expiry, or now is before the expiry less a safety margin — a
// tenth of its lifetime since issued, at least a second (or a quarter of
// a shorter lifetime), at most 30 seconds — so that a login that starts
// with it does not reach the server after it expired.
func Usable(c Credential, issued, now time.Time) bool {
	if c.Expiry.IsZero() {
		return true
	}
	return now.Before(UsableUntil(c, issued))
}

// UsableUntil is the instant from which [Usable] reports false (the zero
// time if c does not expire).
func UsableUntil(c Credential, issued time.Time) time.Time {
	if c.Expiry.IsZero() {
		return time.Time{}
	}
	life := max(c.Expiry.Sub(issued), 0)
	margin := min(max(life/10, min(time.Second, life/4)), 30*time.Second)
	return c.Expiry.Add(-margin)
}

// Request is what the cache asks a [Source] for.
type Request struct {
	// Rejected is the Version of a credential this source handed out that
	// the database has just refused, or "" for a plain read. The source
	// should then look for a newer credential: re-read past any cache of
	// its own, wait (within the context) for a file to change, sign a new
	// token. Returning the rejected Version again says that there is none
	// newer; the connect then backs off and may ask again.
	Rejected string

	// Background is true when the read refreshes a credential still in
	// use: nobody waits for it, and a failure keeps the old one in use.
	Background bool
}

// Source hands out database credentials. Fetch is called by the cache on
// behalf of every connect waiting for the result, with a context bounded
// by the longest fetch timeout among them (never one caller's context), so
// it should honour ctx at every wait. It must be safe for concurrent use,
// though the cache never calls it concurrently for one entry and kind of
// read. An error is returned to the waiting connects as it is (a Source
// should never put a password or token in it) and a background refresh
// that fails keeps the cached credential in use until it is no longer
// [Usable].
type Source interface {
	Fetch(ctx context.Context, r Request) (Credential, error)
}

// Describer is implemented by a [Source] that tells the cache how to use
// it. Without it, a source is shared only with itself, refreshed at the
// cache's refresh interval, and read after a rejected login at most once a
// second.
type Describer interface {
	Describe() Description
}

// Description is what a [Describer] tells the cache.
type Description struct {
	// Name names the source in events and logs ("vault", "iam").
	Name string

	// Identity is a comparable value that names what a read returns and
	// who reads: two sources with equal non-nil identities share one cache
	// entry (and so their reads); a nil Identity shares with nobody but
	// the source itself. It must include everything that changes what a
	// read returns, such as the principal or token that reads, the
	// server, and the path read.
	Identity any

	// RefreshInterval is how long a credential without an expiry is used
	// before a background read, unless the DSN or an option says
	// otherwise; 0 for the cache's default. A credential with an expiry is
	// refreshed before it, whatever this says.
	RefreshInterval time.Duration

	// MinInterval is the least time between two reads forced by rejected
	// logins: an API call that costs money or is throttled wants one; a
	// local read (a file, a token signed in-process) wants 0. A negative
	// value means the default (one second).
	MinInterval time.Duration

	// ReleaseIdle asks the cache to release the source (call its Close,
	// if it is an io.Closer) as soon as its last reader closes, before
	// that reader's Close returns, instead of keeping it for a grace
	// period in case another reader comes: a source whose credentials
	// are worth revoking (a Vault lease is a database user) wants it.
	ReleaseIdle bool
}

// DSN is what a scheme's opener gets of a DSN: `scheme:` Opaque `?` Query.
// The keys secretsql reads itself (host, port, dbname, ttl, …) and the
// driver parameters are not in Query: only those registered with the
// scheme are.
type DSN struct {
	Scheme string     // the scheme, lower case, without the colon
	Opaque string     // what follows "scheme:" up to '?'
	Query  url.Values // the scheme's own keys
}

// Opener opens the [Source] of a DSN of a registered scheme. It runs when
// the DSN is opened (sql.Open, NewConnector) and must do no network I/O.
type Opener func(dsn DSN) (Source, error)

var (
	schemesMu sync.RWMutex
	schemes   = map[string]scheme{}
)

type scheme struct {
	open Opener
	keys map[string]bool
}

var schemeName = regexp.MustCompile(`^[a-z][a-z0-9+.-]{1,31}$`)

// RegisterScheme makes DSNs that start with "name:" open a source with
// open; keys are the DSN keys the scheme reads itself (in DSN.Query), all
// others going to secretsql and the native driver. It panics if the name is
// taken, is not a lower-case URI scheme of 2–32 characters, or is "arn"
// (Secrets Manager ARNs), like sql.Register.
func RegisterScheme(name string, open Opener, keys ...string) {
	if !schemeName.MatchString(name) || name == "arn" {
		panic("credential: RegisterScheme: invalid scheme name " + strconv.Quote(name))
	}
	if open == nil {
		panic("credential: RegisterScheme: nil opener for " + name)
	}
	schemesMu.Lock()
	defer schemesMu.Unlock()
	if _, dup := schemes[name]; dup {
		panic("credential: RegisterScheme called twice for " + name)
	}
	s := scheme{open: open, keys: map[string]bool{}}
	for _, k := range keys {
		s.keys[k] = true
	}
	schemes[name] = s
}

// Lookup returns the opener and the keys of a registered scheme.
func Lookup(name string) (open Opener, keys map[string]bool, ok bool) {
	schemesMu.RLock()
	defer schemesMu.RUnlock()
	s, ok := schemes[name]
	return s.open, s.keys, ok
}
