package main

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	gmssql "github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/mysql_db"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for the admin connection
	"github.com/sirupsen/logrus"
)

// backend is the database the demo rotates a password on. It implements
// rotation.Database.
type backend struct {
	name     string // shown to the user
	engine   string // secretsql engine and secret "engine"
	host     string
	port     int
	database string
	user     string
	password string // the initial password

	admin    *sql.DB
	setPW    func(ctx context.Context, user, password string) error
	login    func(ctx context.Context, user, password string) error
	cleanups []func()
}

// SetPassword changes the user's password with the admin connection.
func (b *backend) SetPassword(ctx context.Context, user, password string) error {
	return b.setPW(ctx, user, password)
}

// Login opens one connection as user and pings it.
func (b *backend) Login(ctx context.Context, user, password string) error {
	return b.login(ctx, user, password)
}

// secretJSON is the secret's value, in the database secret structure.
func (b *backend) secretJSON(password string) string {
	v, _ := json.Marshal(map[string]any{"engine": b.engine, "host": b.host, "port": b.port,
		"username": b.user, "password": password, "dbname": b.database})
	return string(v)
}

func (b *backend) close() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// newPassword is what the demo's rotations set: letters and digits only, so
// that every backend's SQL accepts it as a plain literal (the library itself
// is tested with hostile passwords).
func newPassword() (string, error) { return "pw" + randomHex(16), nil }

// mysqlLiteral quotes s for MySQL/MariaDB/go-mysql-server; the demo's
// passwords hold letters and digits only, but quote properly anyway.
func mysqlLiteral(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

func pgLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// mysqlLogin logs in once with go-sql-driver/mysql.
func mysqlLogin(addr, database string) func(ctx context.Context, user, password string) error {
	return func(ctx context.Context, user, password string) error {
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr, cfg.DBName, cfg.User, cfg.Passwd = "tcp", addr, database, user, password
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return err
		}
		conn, err := c.Connect(ctx)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

func mysqlExec(ctx context.Context, db *sql.DB, stmts ...string) error {
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%.40s…: %w", s, err)
		}
	}
	return nil
}

// embeddedMySQL starts go-mysql-server in process on 127.0.0.1:0, with a
// superuser for administration and the demo user.
func embeddedMySQL(ctx context.Context) (*backend, error) {
	logrus.SetLevel(logrus.ErrorLevel) // GMS logs every failed login as a warning
	db := memory.NewDatabase("demo")
	db.BaseDatabase.EnablePrimaryKeyIndexes()
	pro := memory.NewDBProvider(db)
	engine := sqle.NewDefault(pro)
	mysqlDB := engine.Analyzer.Catalog.MySQLDb
	mysqlDB.SetPersister(&mysql_db.NoopPersister{}) // without it CREATE/ALTER USER panic in the server
	rootPW := "root" + randomHex(12)
	ed := mysqlDB.Editor()
	mysqlDB.AddSuperUser(ed, "root", "localhost", rootPW) // also turns authentication on
	ed.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(server.Config{Protocol: "tcp", Address: ln.Addr().String(), Listener: ln},
		engine, gmssql.NewContext, memory.NewSessionBuilder(pro), nil)
	if err != nil {
		ln.Close()
		return nil, err
	}
	go func() { _ = srv.Start() }()
	addr := ln.Addr().(*net.TCPAddr)
	b := &backend{name: "embedded go-mysql-server at " + addr.String(), engine: "mysql", host: "127.0.0.1", port: addr.Port,
		database: "demo", user: "app", login: mysqlLogin(addr.String(), "demo")}
	b.cleanups = append(b.cleanups, func() { _ = srv.Close() })

	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.DBName, cfg.User, cfg.Passwd = "tcp", addr.String(), "demo", "root", rootPW
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		b.close()
		return nil, err
	}
	b.admin = sql.OpenDB(c)
	b.cleanups = append(b.cleanups, func() { b.admin.Close() })
	b.password, _ = newPassword()
	if err := mysqlExec(ctx, b.admin,
		"CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40))",
		"INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
		"CREATE USER 'app'@'%' IDENTIFIED BY "+mysqlLiteral(b.password),
		"GRANT ALL ON demo.* TO 'app'@'%'",
	); err != nil {
		b.close()
		return nil, err
	}
	b.setPW = func(ctx context.Context, user, password string) error {
		return mysqlExec(ctx, b.admin, "ALTER USER "+mysqlLiteral(user)+"@'%' IDENTIFIED BY "+mysqlLiteral(password))
	}
	return b, nil
}

// realMySQL creates a temporary database and user on a real MySQL or
// MariaDB server through an admin DSN.
func realMySQL(ctx context.Context, adminDSN string) (*backend, error) {
	cfg, err := mysql.ParseDSN(adminDSN)
	if err != nil {
		return nil, fmt.Errorf("--mysql: %w", err)
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("--mysql: address %q: %w", cfg.Addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	cfg.DBName = ""
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	suffix := randomHex(5)
	b := &backend{name: "MySQL/MariaDB at " + cfg.Addr, engine: "mysql", host: host, port: port,
		database: "secretsql_demo_" + suffix, user: "secretsql_demo_" + suffix, admin: sql.OpenDB(c)}
	b.login = mysqlLogin(cfg.Addr, b.database)
	b.cleanups = append(b.cleanups, func() { b.admin.Close() })
	b.password, _ = newPassword()
	account := mysqlLiteral(b.user) + "@'%'"
	b.cleanups = append(b.cleanups, func() {
		_ = mysqlExec(context.Background(), b.admin, "DROP DATABASE IF EXISTS `"+b.database+"`", "DROP USER IF EXISTS "+account)
	})
	if err := mysqlExec(ctx, b.admin,
		"CREATE DATABASE `"+b.database+"`",
		"CREATE TABLE `"+b.database+"`.items (id INT PRIMARY KEY, name VARCHAR(40))",
		"INSERT INTO `"+b.database+"`.items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
		"CREATE USER "+account+" IDENTIFIED BY "+mysqlLiteral(b.password),
		"GRANT ALL ON `"+b.database+"`.* TO "+account,
	); err != nil {
		b.close()
		return nil, err
	}
	b.setPW = func(ctx context.Context, user, password string) error {
		if user != b.user {
			return errors.New("demo: refusing to change another user's password")
		}
		return mysqlExec(ctx, b.admin, "ALTER USER "+account+" IDENTIFIED BY "+mysqlLiteral(password))
	}
	return b, nil
}

// realPostgres creates a temporary database and login role on a real
// PostgreSQL server through an admin URL.
func realPostgres(ctx context.Context, adminURL, group string) (*backend, error) {
	pc, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return nil, fmt.Errorf("--postgres: %w", err)
	}
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return nil, err
	}
	suffix := randomHex(5)
	b := &backend{name: fmt.Sprintf("PostgreSQL at %s:%d", pc.Host, pc.Port), engine: "postgres", host: pc.Host, port: int(pc.Port),
		database: "secretsql_demo_" + suffix, user: "secretsql_demo_" + suffix, admin: admin}
	b.cleanups = append(b.cleanups, func() { admin.Close() })
	b.password, _ = newPassword()
	role := pgx.Identifier{b.user}.Sanitize()
	dbIdent := pgx.Identifier{b.database}.Sanitize()
	create := "CREATE ROLE " + role + " LOGIN PASSWORD " + pgLiteral(b.password)
	if group != "" {
		create += " IN ROLE " + pgx.Identifier{group}.Sanitize()
	}
	b.cleanups = append(b.cleanups, func() {
		ctx := context.Background()
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+dbIdent+" WITH (FORCE)")
		_, _ = admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+role)
	})
	for _, s := range []string{create, "CREATE DATABASE " + dbIdent + " OWNER " + role} {
		if _, err := admin.ExecContext(ctx, s); err != nil {
			b.close()
			return nil, fmt.Errorf("%.30s…: %w", s, err)
		}
	}
	b.setPW = func(ctx context.Context, user, password string) error {
		if user != b.user {
			return errors.New("demo: refusing to change another user's password")
		}
		_, err := admin.ExecContext(ctx, "ALTER ROLE "+role+" PASSWORD "+pgLiteral(password))
		return err
	}
	b.login = func(ctx context.Context, user, password string) error {
		cfg := pc.Copy()
		cfg.User, cfg.Password, cfg.Database = user, password, b.database
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
	// The table the workers read, owned by the demo user.
	if err := b.login(ctx, b.user, b.password); err != nil {
		b.close()
		return nil, fmt.Errorf("the demo user cannot log in (pg_hba.conf?): %w", err)
	}
	cfg := pc.Copy()
	cfg.User, cfg.Password, cfg.Database = b.user, b.password, b.database
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		b.close()
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')"); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}
