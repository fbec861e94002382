// Package mysql registers the secretsql engines "mysql" and "mariadb" on
// github.com/go-sql-driver/mysql, as the database/sql drivers
// secretsmanager-mysql and secretsmanager-mariadb:
//
//	import _ "github.com/secretsql/secretsql/engines/mysql"
//
//	db, err := sql.Open("secretsmanager-mysql", "prod/app?parseTime=true&tls=true")
//
// DSN keys that secretsql does not use itself are go-sql-driver/mysql
// parameters (tls, parseTime, loc, timeout, charset, collation, …). The native
// *mysql.Config comes from mysql.ParseDSN of an address, database and
// parameters that hold no credentials; user and password are set on the
// Config, then mysql.NewConnector builds the connector. Connections are the
// driver's own.
//
// Both engines accept secrets of either family (mysql, aurora-mysql, aurora,
// mariadb): MariaDB and MySQL speak the same protocol.
//
// Authentication failures are *mysql.MySQLError numbers 1044, 1045, 1698,
// 1862 and 3118.
package mysql

import (
	"database/sql/driver"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/engine"
	"github.com/secretsql/secretsql/internal/enginekit"
	"github.com/secretsql/secretsql/internal/enginekit/authcode"
)

// The engines, registered at init. Both accept secrets of either family
// (MariaDB and MySQL speak the same protocol); connections have no default
// database.
var (
	mysqlEngine   = enginekit.New("mysql", 3306, "", prepare, authcode.MySQL, secretEngines...)
	mariadbEngine = enginekit.New("mariadb", 3306, "", prepare, authcode.MySQL, secretEngines...)
	secretEngines = []string{"mysql", "aurora-mysql", "aurora", "mariadb"}
)

func init() {
	engine.Register(mysqlEngine)
	engine.Register(mariadbEngine)
}

var reserved = map[string]string{
	"user":     "the user name comes from the secret",
	"password": "the password comes from the secret",
	"passwd":   "the password comes from the secret",
	"net":      "secretsql connects over tcp to the secret's host",
	"addr":     "use host=… and port=… to override the secret's",
}

// prepared is the Config parsed from a DSN's parameters.
type prepared struct{ base *mysql.Config }

// Connector builds a go-sql-driver/mysql connector for one version of the
// credentials.
func (p prepared) Connector(c secretsql.Credentials) (driver.Connector, error) {
	return mysql.NewConnector(config(p, c))
}

// prepare checks the go-sql-driver/mysql parameters of a DSN once: they
// are parsed with mysql.ParseDSN into a Config that holds no address and no
// credentials, which each version of the credentials clones
// (mysql.Config.Clone) and completes.
func prepare(params url.Values) (prepared, error) {
	for k, vs := range params {
		if why, bad := reserved[strings.ToLower(k)]; bad {
			return prepared{}, &secretsql.DSNError{Key: k, Reason: why}
		}
		if len(vs) != 1 {
			return prepared{}, &secretsql.DSNError{Key: k, Reason: "given more than once"}
		}
	}
	dsn := "/"
	if len(params) > 0 {
		dsn += "?" + params.Encode()
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return prepared{}, &secretsql.DSNError{Reason: "go-sql-driver/mysql rejects the parameters", Err: err}
	}
	return prepared{cfg}, nil
}

// config completes a clone of the prepared Config with one version of the
// credentials. The TLS configuration is dropped so that mysql.NewConnector
// derives it again (with the server name of this address) from the tls
// parameter, as the driver does for a DSN.
func config(p prepared, c secretsql.Credentials) *mysql.Config {
	cfg := p.base.Clone()
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	cfg.DBName = c.Database
	cfg.User = c.Username
	cfg.Passwd = c.Password()
	if cfg.TLSConfig != "" {
		cfg.TLS = nil
	}
	return cfg
}
