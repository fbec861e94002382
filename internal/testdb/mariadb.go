package testdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
)

// mariadbServer is the local MariaDB server.
type mariadbServer struct {
	pool lazyPool
	// noBackslashEscapes records whether the server's sql_mode makes the
	// backslash an ordinary character in string literals.
	noBackslashEscapes atomic.Bool
}

var theMariaDB = &mariadbServer{}

func (*mariadbServer) name() string      { return "MariaDB" }
func (*mariadbServer) port() int         { return MariaDBPort }
func (*mariadbServer) adminUser() string { return "root" }

// config returns the driver configuration for the test bed; credentials are
// set as fields, never formatted into a DSN.
func (*mariadbServer) config(database, user, password string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = Host + ":" + strconv.Itoa(MariaDBPort)
	cfg.DBName = database
	cfg.User = user
	cfg.Passwd = password
	cfg.Timeout = opTimeout
	return cfg
}

func (s *mariadbServer) openAdmin(database string) *sql.DB {
	c, err := mysql.NewConnector(s.config(database, "root", ""))
	if err != nil {
		panic(err) // only fails on an invalid configuration
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(4)
	return db
}

func (s *mariadbServer) admin() (*sql.DB, error) {
	return s.pool.get(func() *sql.DB { return s.openAdmin("") }, func(ctx context.Context, db *sql.DB) error {
		var mode string
		if err := db.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
			return err
		}
		s.noBackslashEscapes.Store(strings.Contains(strings.ToUpper(mode), "NO_BACKSLASH_ESCAPES"))
		return nil
	})
}

func (s *mariadbServer) available() error {
	_, err := s.admin()
	return err
}

// myIdent quotes a MariaDB identifier.
func myIdent(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// myAccount names the account name@'%' (every host).
func myAccount(user string) string { return myIdent(user) + "@`%`" }

// myLiteral quotes s as a MariaDB string literal for the server's sql_mode.
func (s *mariadbServer) myLiteral(v string) string {
	if s.noBackslashEscapes.Load() {
		return `'` + strings.ReplaceAll(v, `'`, `''`) + `'`
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`)
	return `'` + r.Replace(v) + `'`
}

func (s *mariadbServer) exec(ctx context.Context, stmts ...string) error {
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

func (s *mariadbServer) create(ctx context.Context, database, user, password string) error {
	return s.exec(ctx,
		"CREATE DATABASE "+myIdent(database),
		"CREATE USER "+myAccount(user)+" IDENTIFIED BY "+s.myLiteral(password),
		"GRANT ALL PRIVILEGES ON "+myIdent(database)+".* TO "+myAccount(user),
	)
}

// createUser creates to and gives it every grant of from, as AWS's MySQL
// alternating-users rotation function does: each line of SHOW GRANTS is
// replayed with the new grantee (everything from " TO " on, including any
// IDENTIFIED BY PASSWORD clause, is replaced).
func (s *mariadbServer) createUser(ctx context.Context, _, from, to, password string) error {
	db, err := s.admin()
	if err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, "SHOW GRANTS FOR "+myAccount(from))
	if err != nil {
		return fmt.Errorf("SHOW GRANTS FOR %s: %w", myAccount(from), err)
	}
	var grants []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return err
		}
		head, _, ok := strings.Cut(g, " TO ")
		if !ok {
			rows.Close()
			return fmt.Errorf("unexpected SHOW GRANTS line %q", head)
		}
		if head != "GRANT USAGE ON *.*" { // USAGE: no privilege at all
			grants = append(grants, head+" TO "+myAccount(to))
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	stmts := append([]string{"CREATE USER " + myAccount(to) + " IDENTIFIED BY " + s.myLiteral(password)}, grants...)
	return s.exec(ctx, stmts...)
}

func (s *mariadbServer) setPassword(ctx context.Context, user, password string) error {
	return s.exec(ctx, "ALTER USER "+myAccount(user)+" IDENTIFIED BY "+s.myLiteral(password))
}

func (s *mariadbServer) login(ctx context.Context, database, user, password string) error {
	c, err := mysql.NewConnector(s.config(database, user, password))
	if err != nil {
		return err
	}
	conn, err := c.Connect(ctx)
	if err != nil {
		return fmt.Errorf("mariadb login as %q: %w", user, err)
	}
	defer conn.Close()
	if err := conn.(driver.Pinger).Ping(ctx); err != nil {
		return fmt.Errorf("mariadb ping as %q: %w", user, err)
	}
	return nil
}

func (s *mariadbServer) count(ctx context.Context, query string, args ...any) (bool, error) {
	db, err := s.admin()
	if err != nil {
		return false, err
	}
	var n int
	err = db.QueryRowContext(ctx, query, args...).Scan(&n)
	return n > 0, err
}

func (s *mariadbServer) databaseExists(ctx context.Context, name string) (bool, error) {
	return s.count(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name)
}

func (s *mariadbServer) userExists(ctx context.Context, name string) (bool, error) {
	return s.count(ctx, "SELECT COUNT(*) FROM mysql.global_priv WHERE User = ?", name)
}

func (s *mariadbServer) drop(ctx context.Context, database string, users []string) error {
	db, err := s.admin()
	if err != nil {
		return err
	}
	var errs []error
	// End every session of the database or of the users.
	query := "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND (DB = ?"
	args := []any{database}
	for _, u := range users {
		query += " OR USER = ?"
		args = append(args, u)
	}
	rows, err := db.QueryContext(ctx, query+")", args...)
	if err != nil {
		errs = append(errs, err)
	} else {
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				errs = append(errs, err)
				break
			}
			ids = append(ids, id)
		}
		errs = append(errs, rows.Close(), rows.Err())
		for _, id := range ids {
			_, err := db.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatInt(id, 10))
			var me *mysql.MySQLError
			if errors.As(err, &me) && me.Number == 1094 { // unknown thread: already gone
				err = nil
			}
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.exec(ctx, "DROP DATABASE IF EXISTS "+myIdent(database)))
	for _, u := range users {
		errs = append(errs, s.exec(ctx, "DROP USER IF EXISTS "+myAccount(u)))
	}
	return errors.Join(errs...)
}
