// Package postgres registers the secretsql engines "postgres" and "redshift"
// on pgx v5 (github.com/jackc/pgx/v5/stdlib), as the database/sql drivers
// secretsmanager-postgres and secretsmanager-redshift:
//
//	import _ "github.com/secretsql/secretsql/engines/postgres"
//
//	db, err := sql.Open("secretsmanager-postgres",
//		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app-AbCdEf?sslmode=require")
//
// DSN keys that secretsql does not use itself are pgx/libpq connection
// parameters (sslmode, sslrootcert, application_name, connect_timeout,
// search_path, …). The native configuration comes from pgx.ParseConfig of a
// quoted keyword/value string that holds no password; the password is set on
// the parsed configuration, so the secret's values win over PG* environment
// variables and never pass through a string. Connections are pgx's own
// *stdlib.Conn: sql.Conn.Raw reaches them.
//
// Authentication failures are *pgconn.PgError with SQLSTATE 28P01
// (invalid_password) or 28000 (invalid_authorization_specification).
package postgres

import (
	"context"
	"database/sql/driver"
	"math/rand/v2"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/credential"
	"github.com/secretsql/secretsql/engine"
	"github.com/secretsql/secretsql/internal/enginekit"
	"github.com/secretsql/secretsql/internal/enginekit/authcode"
)

// The engines, registered at init. Redshift has no default database: the
// server chooses.
var (
	postgresEngine = enginekit.New("postgres", 5432, "postgres", prepare, authcode.Postgres, postgresSecrets...)
	redshiftEngine = enginekit.New("redshift", 5439, "", prepare, authcode.Postgres, redshiftSecrets...)
)

// The secret "engine" values of each engine.
var (
	postgresSecrets = []string{"postgres", "postgresql", "aurora-postgresql"}
	redshiftSecrets = []string{"redshift", "redshift-serverless"}
)

func init() {
	engine.Register(postgresEngine)
	engine.Register(redshiftEngine)
}

// reserved are the keys that would override what the secret provides.
var reserved = map[string]string{
	"user":     "the user name comes from the secret",
	"password": "the password comes from the secret",
	"passfile": "the password comes from the secret",
	"hostaddr": "use host=… to override the secret's host",
	"database": "use dbname=… to override the secret's database",
}

// prepared is the keyword/value connection string of a DSN's parameters.
type prepared string

// Connector builds a pgx stdlib connector for one version of the
// credentials. Its configuration holds no password: each connect puts it
// in the configuration pgconn logs in with only while a login
// authenticates, as the Hook does (connect.install), so neither the
// *pgconn.ConnectError of a failed connect (its Config is an exported
// field a caller may log) nor a connection's pgx.Conn.Config carries it.
// Errors and connections are pgx's own (errors.As reaches
// *pgconn.PgError and the ConnectError; sql.Conn.Raw reaches *stdlib.Conn).
func (p prepared) Connector(c secretsql.Credentials) (driver.Connector, error) {
	cfg, err := config(c, p)
	if err != nil {
		return nil, err
	}
	cfg.Password = ""
	opts := []stdlib.OptionOpenDB{stdlib.OptionBeforeConnect(func(_ context.Context, cc *pgx.ConnConfig) error {
		(&connect{creds: c}).install(cc)
		return nil
	})}
	if c.Retire && !c.Expiry.IsZero() {
		opts = append(opts, retirement(credential.UsableUntil(c, time.Now()))...)
	}
	return stdlib.GetConnector(*cfg, opts...), nil
}

// retirement returns the pgx options that retire the connections of a
// credential usable until retire: each from a random moment of its own
// near the end of that life (see retireAt) and every one from retire on.
//
// Connections do not all retire at one moment because database/sql tries
// a query on at most three connections that answer driver.ErrBadConn (two
// pooled ones, then one handed over by a returning query when the pool is
// full): a pool whose connections all retired at once failed queries with
// "driver: bad connection" (TestRetireUnderLoad: 1–2 in 12 s, 2 runs of
// 3). For the same reason a query meets at most one connection that
// retires early (see early).
func retirement(retire time.Time) []stdlib.OptionOpenDB {
	r := &retirer{gap: retireWindow(retire, time.Now()) / retireGaps}
	return []stdlib.OptionOpenDB{
		stdlib.OptionAfterConnect(func(_ context.Context, conn *pgx.Conn) error {
			conn.PgConn().CustomData()[retireKey] = retireAt(retire, time.Now())
			return nil
		}),
		stdlib.OptionResetSession(func(ctx context.Context, conn *pgx.Conn) error {
			now := time.Now()
			if !now.Before(retire) {
				return driver.ErrBadConn // database/sql closes it and uses or opens another
			}
			at, ok := conn.PgConn().CustomData()[retireKey].(time.Time)
			if !ok || now.Before(at) || !r.early(ctx, now) {
				return nil
			}
			return driver.ErrBadConn
		}),
	}
}

// retirer limits the early retirements of one credential's connections.
type retirer struct {
	gap  time.Duration // between two early retirements, for queries without a context of their own
	last atomic.Int64  // when a connection last retired early (Unix ns)

	mu     sync.Mutex
	recent [64]context.Context // the contexts of the latest early retirements
	next   int
}

// early reports whether a connection due to retire early may do so now,
// for a query with context ctx. database/sql passes the query's own
// context to every connection it tries for the query, so a context that a
// connection retired early for just now gets no second one (the
// connection retires at a later reuse). A context that is not a pointer
// (context.Background(), shared by every query without one) cannot tell
// queries apart: such queries retire at most one connection per gap.
func (r *retirer) early(ctx context.Context, now time.Time) bool {
	if ctx == nil || reflect.TypeOf(ctx).Kind() != reflect.Pointer {
		prev := r.last.Load()
		return now.UnixNano()-prev >= int64(r.gap) && r.last.CompareAndSwap(prev, now.UnixNano())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.recent {
		if c == ctx { // pointers: comparable
			return false
		}
	}
	r.recent[r.next] = ctx
	r.next = (r.next + 1) % len(r.recent)
	return true
}

// retireKey is the key of a connection's retirement moment in its
// pgconn.PgConn.CustomData.
const retireKey = "secretsql.retire"

const (
	// retireSpread: a connection retires from a random moment of the last
	// 1/retireSpread of what was left of its credential's usable life when
	// it opened (so never before it opened)…
	retireSpread = 4
	// maxRetireSpread: …and at most this long before the end of that life.
	maxRetireSpread = 5 * time.Minute
	// retireGaps: for queries without a context of their own,
	// connections retire early at most one per 1/retireGaps of that last
	// part of the life.
	retireGaps = 64
)

// retireWindow is the last part of a credential's usable life, until
// retire, seen from from: 1/retireSpread of what is left, at most
// maxRetireSpread.
func retireWindow(retire, from time.Time) time.Duration {
	return min(max(retire.Sub(from), 0)/retireSpread, maxRetireSpread)
}

// retireAt is the moment from which a connection opened at opened, with a
// credential usable until retire, retires: a random one of the window.
func retireAt(retire, opened time.Time) time.Time {
	w := retireWindow(retire, opened)
	if w <= 0 {
		return retire
	}
	return retire.Add(-rand.N(w))
}

// RetiresExpired marks p as an [engine.Retirer]: a connection made with a
// credential that expires and must not outlive it (Retire) is discarded at
// its first reuse from a moment of its own in the last quarter of the
// credential's usable life on, and never after it (pgx's ResetSession
// hook, which database/sql calls before it hands out a pooled connection
// again).
func (p prepared) RetiresExpired() {}

// prepare checks the driver parameters of a DSN once, and returns them as
// a keyword/value connection string; pgx parses it, so a bad value or an
// unreadable sslrootcert fails sql.Open.
func prepare(params url.Values) (prepared, error) {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if why, bad := reserved[strings.ToLower(k)]; bad {
			return "", &secretsql.DSNError{Key: k, Reason: why}
		}
		if !validKey(k) {
			return "", &secretsql.DSNError{Key: k, Reason: "not a PostgreSQL connection parameter name"}
		}
		if len(params[k]) != 1 {
			return "", &secretsql.DSNError{Key: k, Reason: "given more than once"}
		}
		kv(&b, k, params[k][0])
	}
	// A TCP host, so that pgx checks the TLS parameters too (it has none
	// for a Unix socket, its default without a host).
	if _, err := pgx.ParseConfig("host=localhost " + b.String()); err != nil {
		return "", &secretsql.DSNError{Reason: "pgx cannot parse the connection parameters", Err: err}
	}
	return prepared(b.String()), nil
}

// config parses the connection string of one version of the credentials
// (without the password) with pgx, and sets the password. pgx derives the
// TLS server name and the sslmode fallbacks from the host, so each version
// is parsed anew. An error of the parser itself is the environment's (a
// certificate file that went away): the values were checked before.
func config(c secretsql.Credentials, params prepared) (*pgx.ConnConfig, error) {
	// The host is a host name or an IP address (secretsql refuses a list
	// or a Unix socket path before an engine sees it); the read-back below
	// checks that pgx targets exactly it.
	var b strings.Builder
	kv(&b, "host", c.Host)
	kv(&b, "port", strconv.Itoa(c.Port))
	kv(&b, "user", c.Username)
	if c.Database != "" {
		kv(&b, "dbname", c.Database)
	}
	if params != "" {
		b.WriteByte(' ')
		b.WriteString(string(params))
	}
	cfg, err := pgx.ParseConfig(b.String())
	if err != nil {
		return nil, err
	}
	// What pgx parsed must be exactly what the secret and the DSN said.
	if cfg.Host != c.Host || int(cfg.Port) != c.Port || cfg.User != c.Username || (c.Database != "" && cfg.Database != c.Database) {
		return nil, &secretsql.SecretError{Key: "host", Reason: "pgx does not read the host, port, user or database back unchanged"}
	}
	cfg.Password = c.Password()
	return cfg, nil
}

// kv appends key='value' with libpq quoting: backslash and single quote are
// escaped with a backslash.
func kv(b *strings.Builder, k, v string) {
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(k)
	b.WriteString("='")
	for i := 0; i < len(v); i++ { // bytes, not runes: invalid UTF-8 stays as it is
		if v[i] == '\\' || v[i] == '\'' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('\'')
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
