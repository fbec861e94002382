// Package sqldb is the database side of the rotations that the smtest
// emulator runs: it reaches the server a Secrets Manager database secret
// points at (PostgreSQL, Redshift spoken to as PostgreSQL, MySQL or
// MariaDB) with credentials taken from the secrets themselves, the way
// AWS's rotation functions do, and has no credentials of its own.
//
// A [*DB] implements [rotation.Database], [rotation.SelfPasswordChanger]
// (single user: the user, logged in with its working password, changes its
// own password), [rotation.AdminCloner] (alternating users: the admin
// secret's user creates "<name>_clone" with the privileges of "<name>", or
// sets its password) and [rotation.Locator] (the admin logs in at the
// server the admin secret names). Passwords and names are never formatted
// into SQL by this package: PostgreSQL quotes them itself (format with %I
// and %L), and go-sql-driver/mysql escapes them for the connection's
// sql_mode.
package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/secretsql/secretsql/internal/enginekit/authcode"
	"github.com/secretsql/secretsql/internal/rotation"
)

// Engine families: the SQL dialect a DB speaks.
const (
	Postgres = "postgres" // PostgreSQL, Aurora PostgreSQL, Redshift
	MySQL    = "mysql"    // MySQL, Aurora MySQL, MariaDB
)

// DefaultConnectTimeout bounds a connection attempt when DB.ConnectTimeout
// is zero.
const DefaultConnectTimeout = 10 * time.Second

// DB is the database server a secret points at.
type DB struct {
	// Family is Postgres or MySQL.
	Family string
	// Host and Port locate the server.
	Host string
	Port int
	// Database is the database connections open: the secret's dbname, else
	// "postgres" for PostgreSQL and none for Redshift, MySQL and MariaDB.
	Database string
	// ConnectTimeout bounds each connection attempt; zero means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Allow, if set, is asked about the address of every connection before
	// it is dialed (after the host name is resolved, so it judges the
	// address actually reached): a connection to an address it refuses, or
	// to a Unix socket, fails with an [*AddrError] before any packet is
	// sent. Nil allows every address.
	Allow func(netip.Addr) bool
}

// AddrError is the error of a connection that DB.Allow refused.
type AddrError struct {
	// Network and Address are what was about to be dialed.
	Network, Address string
	// Addr is the refused address, invalid for a Unix socket.
	Addr netip.AddrPort
}

// Error says which address was refused.
func (e *AddrError) Error() string {
	return fmt.Sprintf("sqldb: connections to %s address %s are not allowed", e.Network, e.Address)
}

// dial dials an address that d.Allow allows.
func (d *DB) dial(ctx context.Context, network, address string) (net.Conn, error) {
	dialer := net.Dialer{KeepAlive: 5 * time.Minute}
	if d.Allow != nil {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !d.Allow(ap.Addr().Unmap()) {
				return &AddrError{Network: network, Address: address, Addr: ap}
			}
			return nil
		}
	}
	return dialer.DialContext(ctx, network, address)
}

var (
	_ rotation.Database            = (*DB)(nil)
	_ rotation.SelfPasswordChanger = (*DB)(nil)
	_ rotation.AdminCloner         = (*DB)(nil)
	_ rotation.Locator             = (*DB)(nil)
)

// families maps the "engine" values of database secrets to a family and the
// default port.
var families = map[string]struct {
	family string
	port   int
}{
	"postgres":            {Postgres, 5432},
	"postgresql":          {Postgres, 5432},
	"aurora-postgresql":   {Postgres, 5432},
	"redshift":            {Postgres, 5439},
	"redshift-serverless": {Postgres, 5439},
	"mysql":               {MySQL, 3306},
	"aurora-mysql":        {MySQL, 3306},
	"aurora":              {MySQL, 3306},
	"mariadb":             {MySQL, 3306},
}

// FromSecret returns the DB that a database secret (its SecretString: the
// JSON structure RDS and the rotation functions use) points at. The secret
// must name a supported engine and a host; it fails otherwise, without
// contacting anything.
func FromSecret(secretString string) (*DB, error) {
	var s struct {
		Engine string          `json:"engine"`
		Host   string          `json:"host"`
		Port   json.RawMessage `json:"port"`
		DBName string          `json:"dbname"`
	}
	if err := json.Unmarshal([]byte(secretString), &s); err != nil {
		return nil, fmt.Errorf("sqldb: the secret is not a JSON object: %w", err)
	}
	f, ok := families[s.Engine]
	if !ok {
		if s.Engine == "" {
			return nil, errors.New(`sqldb: the secret has no "engine" key (postgres, redshift, mysql or mariadb)`)
		}
		return nil, fmt.Errorf("sqldb: engine %q has no local rotation (postgres, redshift, mysql or mariadb)", s.Engine)
	}
	if s.Host == "" {
		return nil, errors.New(`sqldb: the secret has no "host" key`)
	}
	db := &DB{Family: f.family, Host: s.Host, Port: f.port, Database: s.DBName}
	if len(s.Port) > 0 && string(s.Port) != "null" {
		p, err := strconv.Atoi(strings.Trim(string(s.Port), `"`))
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("sqldb: port %s is not a TCP port", s.Port)
		}
		db.Port = p
	}
	if db.Database == "" && (s.Engine == "postgres" || s.Engine == "postgresql" || s.Engine == "aurora-postgresql") {
		db.Database = "postgres"
	}
	return db, nil
}

// Locate returns the DB that another secret points at (see FromSecret),
// with d's settings (ConnectTimeout and Allow): for alternating users, the
// server the admin secret names, where its user logs in. The secret must
// name an engine of d's family.
func (d *DB) Locate(secretString string) (rotation.Database, error) {
	db, err := FromSecret(secretString)
	if err != nil {
		return nil, err
	}
	if db.Family != d.Family {
		return nil, fmt.Errorf("sqldb: the secret names a %s engine, not %s", db.Family, d.Family)
	}
	db.ConnectTimeout, db.Allow = d.ConnectTimeout, d.Allow
	return db, nil
}

func (d *DB) timeout() time.Duration {
	if d.ConnectTimeout > 0 {
		return d.ConnectTimeout
	}
	return DefaultConnectTimeout
}

// open returns a one-connection pool logged in as user, or the driver's
// login error.
func (d *DB) open(ctx context.Context, user, password string) (*sql.DB, error) {
	var pool *sql.DB
	switch d.Family {
	case Postgres:
		// The URL form keeps any host (even with spaces or quotes) intact,
		// and sslmode=prefer's plain-text fallback goes to the same host.
		u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(d.Host, strconv.Itoa(d.Port)),
			RawQuery: "sslmode=prefer&connect_timeout=" + strconv.Itoa(int(d.timeout().Seconds()))}
		cfg, err := pgx.ParseConfig(u.String())
		if err != nil {
			return nil, fmt.Errorf("sqldb: %w", err)
		}
		cfg.User, cfg.Password, cfg.Database = user, password, d.Database
		cfg.DialFunc = d.dial
		pool = stdlib.OpenDB(*cfg)
	case MySQL:
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
		cfg.User, cfg.Passwd, cfg.DBName = user, password, d.Database
		cfg.Timeout = d.timeout()
		cfg.TLSConfig = "preferred"
		cfg.InterpolateParams = true // client-side escaping, aware of NO_BACKSLASH_ESCAPES
		cfg.DialFunc = d.dial
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("sqldb: %w", err)
		}
		pool = sql.OpenDB(c)
	default:
		return nil, fmt.Errorf("sqldb: unknown engine family %q", d.Family)
	}
	pool.SetMaxOpenConns(1)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sqldb: %s login as %q: %w", d.Family, user, err)
	}
	return pool, nil
}

// session logs in as user, runs fn on the connection and closes it.
func (d *DB) session(ctx context.Context, user, password string, fn func(*sql.DB) error) error {
	pool, err := d.open(ctx, user, password)
	if err != nil {
		return err
	}
	defer pool.Close()
	return fn(pool)
}

// Login opens one connection as user with password, pings it and closes
// it. A refused login returns the driver's error wrapped ([IsAuthFailure]
// tells it).
func (d *DB) Login(ctx context.Context, user, password string) error {
	return d.session(ctx, user, password, func(*sql.DB) error { return nil })
}

// IsAuthFailure reports whether err is the server's refusal of a login's
// credentials, by the codes the engines use: SQLSTATE 28P01 or 28000 from
// PostgreSQL; error 1044, 1045, 1698, 1862 or 3118 from MySQL and MariaDB.
func IsAuthFailure(err error) bool { return authcode.Postgres(err) || authcode.MySQL(err) }

// CheckLogin logs in as user with password and returns nil if the server
// accepts the login exactly when accepted is true; otherwise an error that
// says what happened. Tests use it to prove that a rotation's new password
// works and the old one no longer does.
func (d *DB) CheckLogin(ctx context.Context, user, password string, accepted bool) error {
	err := d.Login(ctx, user, password)
	switch {
	case accepted && err != nil:
		return fmt.Errorf("sqldb: login as %q refused, want it accepted: %w", user, err)
	case !accepted && err == nil:
		return fmt.Errorf("sqldb: login as %q accepted, want it refused", user)
	case !accepted && !IsAuthFailure(err):
		return fmt.Errorf("sqldb: login as %q failed, but not by refusing the credentials: %w", user, err)
	}
	return nil
}

// ChangeOwnPassword logs in as user with oldPassword and changes the user's
// own password to newPassword, as AWS's single-user rotation functions do
// (ALTER USER on PostgreSQL and MySQL, SET PASSWORD on MariaDB).
func (d *DB) ChangeOwnPassword(ctx context.Context, user, oldPassword, newPassword string) error {
	return d.session(ctx, user, oldPassword, func(pool *sql.DB) error {
		if d.Family == Postgres {
			return pgExecFormatted(ctx, pool, "ALTER USER %I WITH PASSWORD %L", user, newPassword)
		}
		stmt := "ALTER USER CURRENT_USER() IDENTIFIED BY ?"
		if isMariaDB(ctx, pool) {
			stmt = "SET PASSWORD = PASSWORD(?)"
		}
		return exec(ctx, pool, stmt, newPassword)
	})
}

// CloneUserAs logs in as the admin user and makes sure the user to exists
// with the privileges of from and the password password, as AWS's
// alternating-users rotation functions do: on PostgreSQL CREATE ROLE to
// LOGIN and GRANT from TO to; on MySQL and MariaDB CREATE USER to@'%' and
// every grant that SHOW GRANTS lists for from@'%'. If to exists, only its
// password changes.
func (d *DB) CloneUserAs(ctx context.Context, adminUser, adminPassword, from, to, password string) error {
	return d.session(ctx, adminUser, adminPassword, func(pool *sql.DB) error {
		if d.Family == Postgres {
			return pgClone(ctx, pool, from, to, password)
		}
		return myClone(ctx, pool, from, to, password)
	})
}

// DropUserAs logs in as the admin user, ends the sessions of user and drops
// it if it exists. Tests use it to remove the "_clone" users that
// alternating-users rotations create.
func (d *DB) DropUserAs(ctx context.Context, adminUser, adminPassword, user string) error {
	return d.session(ctx, adminUser, adminPassword, func(pool *sql.DB) error {
		if d.Family == Postgres {
			if _, err := pool.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", user); err != nil {
				return fmt.Errorf("sqldb: ending the sessions of %q: %w", user, err)
			}
			return pgExecFormatted(ctx, pool, "DROP ROLE IF EXISTS %I", user)
		}
		return exec(ctx, pool, "DROP USER IF EXISTS ?@'%'", user)
	})
}

// exec runs stmt; an error names only the statement's first two words,
// never a password.
func exec(ctx context.Context, pool *sql.DB, stmt string, args ...any) error {
	if _, err := pool.ExecContext(ctx, stmt, args...); err != nil {
		words := strings.Fields(stmt)
		return fmt.Errorf("sqldb: %s: %w", strings.Join(words[:min(2, len(words))], " "), err)
	}
	return nil
}

// pgExecFormatted has the server quote the arguments into stmt (a format()
// template of %I identifiers and %L literals), then runs the result.
func pgExecFormatted(ctx context.Context, pool *sql.DB, stmt string, args ...any) error {
	placeholders := make([]string, len(args))
	for i := range args {
		placeholders[i] = "$" + strconv.Itoa(i+2) + "::text"
	}
	var sqlText string
	q := "SELECT format($1::text, " + strings.Join(placeholders, ", ") + ")"
	if err := pool.QueryRowContext(ctx, q, append([]any{stmt}, args...)...).Scan(&sqlText); err != nil {
		return fmt.Errorf("sqldb: quoting %q: %w", stmt, err)
	}
	return exec(ctx, pool, sqlText)
}

func pgClone(ctx context.Context, pool *sql.DB, from, to, password string) error {
	var exists bool
	if err := pool.QueryRowContext(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", to).Scan(&exists); err != nil {
		return fmt.Errorf("sqldb: looking up role %q: %w", to, err)
	}
	if exists {
		return pgExecFormatted(ctx, pool, "ALTER USER %I WITH PASSWORD %L", to, password)
	}
	if err := pgExecFormatted(ctx, pool, "CREATE ROLE %I WITH LOGIN PASSWORD %L", to, password); err != nil {
		return err
	}
	return pgExecFormatted(ctx, pool, "GRANT %I TO %I", from, to)
}

func myClone(ctx context.Context, pool *sql.DB, from, to, password string) error {
	var n int
	if err := pool.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ?", to).Scan(&n); err != nil {
		return fmt.Errorf("sqldb: looking up user %q: %w", to, err)
	}
	mariadb := isMariaDB(ctx, pool)
	if n > 0 {
		if mariadb {
			return exec(ctx, pool, "SET PASSWORD FOR ?@'%' = PASSWORD(?)", to, password)
		}
		return exec(ctx, pool, "ALTER USER ?@'%' IDENTIFIED BY ?", to, password)
	}
	grants, err := myGrants(ctx, pool, from)
	if err != nil {
		return err
	}
	if err := exec(ctx, pool, "CREATE USER ?@'%' IDENTIFIED BY ?", to, password); err != nil {
		return err
	}
	for _, g := range grants {
		if err := exec(ctx, pool, g+" TO ?@'%'", to); err != nil {
			return err
		}
	}
	return nil
}

// myGrants returns the GRANT clauses of user@'%' without their grantee
// (what comes before " TO "), as the AWS template replays them.
func myGrants(ctx context.Context, pool *sql.DB, user string) ([]string, error) {
	rows, err := pool.QueryContext(ctx, "SHOW GRANTS FOR ?@'%'", user)
	if err != nil {
		return nil, fmt.Errorf("sqldb: SHOW GRANTS for %q: %w", user, err)
	}
	defer rows.Close()
	var grants []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		grant, _, found := strings.Cut(line, " TO ")
		if !found || strings.Contains(grant, "?") {
			return nil, fmt.Errorf("sqldb: cannot replay the grant %q", line)
		}
		grants = append(grants, grant)
	}
	return grants, rows.Err()
}

func isMariaDB(ctx context.Context, pool *sql.DB) bool {
	var v string
	_ = pool.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v)
	return strings.Contains(strings.ToLower(v), "mariadb")
}
