package testdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresServer is the local PostgreSQL server.
type postgresServer struct{ pool lazyPool }

var thePostgres = &postgresServer{}

func (*postgresServer) name() string      { return "PostgreSQL" }
func (*postgresServer) port() int         { return PostgresPort }
func (*postgresServer) adminUser() string { return "postgres" }

// connConfig returns the pgx configuration for one plain TCP connection to
// the test bed (no TLS, no fallbacks); credentials are set as fields, never
// formatted into a connection string.
func (*postgresServer) connConfig(database, user, password string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig("host=" + Host + " port=" + strconv.Itoa(PostgresPort) +
		" sslmode=disable connect_timeout=10")
	if err != nil {
		return nil, err
	}
	cfg.Database = database
	cfg.User = user
	cfg.Password = password
	return cfg, nil
}

func (s *postgresServer) openAdmin(database string) *sql.DB {
	cfg, err := s.connConfig(database, "postgres", "")
	if err != nil {
		panic(err) // a constant connection string
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(4)
	return db
}

func (s *postgresServer) admin() (*sql.DB, error) {
	return s.pool.get(func() *sql.DB { return s.openAdmin("postgres") }, checkPostgres)
}

func (s *postgresServer) available() error {
	_, err := s.admin()
	return err
}

// checkPostgres verifies that scripts/testbed.sh has prepared the server:
// without the group role, test users would be trusted without a password.
func checkPostgres(ctx context.Context, db *sql.DB) error {
	var ok bool
	err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", PostgresGroup).Scan(&ok)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("group role %s is missing (password logins would not be enforced)", PostgresGroup)
	}
	return nil
}

// pgIdent quotes a PostgreSQL identifier.
func pgIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

// pgLiteral quotes s as a PostgreSQL string literal the way quote_literal
// does: an escape string (E'...') when s holds a backslash, so that the
// result means s whatever standard_conforming_strings is set to.
func pgLiteral(s string) string {
	s = strings.ReplaceAll(s, "\x00", "") // cannot occur in a PostgreSQL string
	quoted := strings.ReplaceAll(s, `'`, `''`)
	if strings.Contains(s, `\`) {
		return `E'` + strings.ReplaceAll(quoted, `\`, `\\`) + `'`
	}
	return `'` + quoted + `'`
}

func (s *postgresServer) exec(ctx context.Context, stmts ...string) error {
	db, err := s.admin()
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return redact(err, stmt)
		}
	}
	return nil
}

func (s *postgresServer) create(ctx context.Context, database, user, password string) error {
	return s.exec(ctx,
		"CREATE ROLE "+pgIdent(user)+" LOGIN PASSWORD "+pgLiteral(password)+" IN ROLE "+pgIdent(PostgresGroup),
		"CREATE DATABASE "+pgIdent(database)+" OWNER "+pgIdent(user),
		// The owner already has these; explicit grants keep the intent
		// visible and survive a change of owner.
		"GRANT ALL ON DATABASE "+pgIdent(database)+" TO "+pgIdent(user),
	)
}

// createUser makes to a member of from, as AWS's PostgreSQL alternating-users
// rotation function does (GRANT current TO clone): it inherits every
// privilege of from, including the ownership of the database.
func (s *postgresServer) createUser(ctx context.Context, _, from, to, password string) error {
	return s.exec(ctx,
		"CREATE ROLE "+pgIdent(to)+" LOGIN PASSWORD "+pgLiteral(password)+
			" IN ROLE "+pgIdent(PostgresGroup)+", "+pgIdent(from),
	)
}

func (s *postgresServer) setPassword(ctx context.Context, user, password string) error {
	return s.exec(ctx, "ALTER ROLE "+pgIdent(user)+" WITH PASSWORD "+pgLiteral(password))
}

func (s *postgresServer) login(ctx context.Context, database, user, password string) error {
	cfg, err := s.connConfig(database, user, password)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres login as %q: %w", user, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("postgres ping as %q: %w", user, err)
	}
	return nil
}

func (s *postgresServer) queryBool(ctx context.Context, query string, args ...any) (bool, error) {
	db, err := s.admin()
	if err != nil {
		return false, err
	}
	var ok bool
	err = db.QueryRowContext(ctx, query, args...).Scan(&ok)
	return ok, err
}

func (s *postgresServer) databaseExists(ctx context.Context, name string) (bool, error) {
	return s.queryBool(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name)
}

func (s *postgresServer) userExists(ctx context.Context, name string) (bool, error) {
	return s.queryBool(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", name)
}

func (s *postgresServer) drop(ctx context.Context, database string, users []string) error {
	db, err := s.admin()
	if err != nil {
		return err
	}
	var errs []error
	// End every session of the database or of the users, so that neither
	// DROP waits or fails on them.
	_, err = db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND (datname = $1 OR usename = ANY($2))`, database, users)
	errs = append(errs, err)
	errs = append(errs, s.exec(ctx, "DROP DATABASE IF EXISTS "+pgIdent(database)+" WITH (FORCE)"))
	for _, u := range users {
		errs = append(errs, s.exec(ctx, "DROP ROLE IF EXISTS "+pgIdent(u)))
	}
	return errors.Join(errs...)
}

// redact returns err with the statement that caused it, minus any string
// literal (passwords).
func redact(err error, stmt string) error {
	if i := strings.Index(stmt, "'"); i >= 0 {
		stmt = strings.TrimRight(strings.TrimSuffix(stmt[:i], "E"), " ") + " …"
	}
	return fmt.Errorf("%s: %w", stmt, err)
}
