// Package sqlserver registers the "sqlserver" engine with secretsql, on top of
// github.com/microsoft/go-mssqldb. Importing it for its side effect makes the
// database/sql driver "secretsmanager-sqlserver" available:
//
//	import _ "github.com/secretsql/secretsql/engines/sqlserver"
//
//	db, err := sql.Open("secretsmanager-sqlserver",
//		"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/mssql-AbCdEf?encrypt=true&app+name=billing")
//
// The native configuration is produced by go-mssqldb's own parser
// (msdsn.Parse) from a URL that holds the user name, host, port and database
// but never the password; the password is set on the parsed configuration
// afterwards. Every other DSN key is passed to go-mssqldb as a connection
// parameter (encrypt, TrustServerCertificate, certificate, app name, dial
// timeout, packet size, …); keys go-mssqldb does not know, and keys that carry
// credentials or the endpoint (user id, password, server, database, …), are
// rejected.
//
// A login is treated as rejected credentials when SQL Server answers error
// 18456 (login failed), 18486 (account locked out), 18487 (password expired)
// or 18488 (password must be changed).
//
// Caveat: go-mssqldb v1.11.2 sends the length of the user name and password
// in runes where TDS expects UTF-16 code units, so a password containing a
// character outside the Basic Multilingual Plane (an emoji, for instance)
// reaches the server truncated and the login fails. Rotation functions that
// generate passwords from ASCII are not affected.
package sqlserver

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/engine"
	"github.com/secretsql/secretsql/internal/enginekit"
)

// prepared are a DSN's checked parameters, keyed as msdsn stores them.
type prepared url.Values

// Connector builds a go-mssqldb connector for one version of the
// credentials.
func (p prepared) Connector(c secretsql.Credentials) (driver.Connector, error) {
	cfg, err := build(p, c)
	if err != nil {
		return nil, err
	}
	return mssql.NewConnectorConfig(cfg), nil
}

// sqlserverEngine is registered at init. Its default database is master,
// which RDS secrets imply; it accepts the secret engine values RDS uses for
// SQL Server: the generic one and one per edition.
var sqlserverEngine = enginekit.New("sqlserver", 1433, "master", prepare, isAuthError,
	"sqlserver", "sqlserver-ee", "sqlserver-se", "sqlserver-ex", "sqlserver-web")

func init() { engine.Register(sqlserverEngine) }

// authErrorNumbers are the SQL Server error numbers that mean the login's
// credentials were rejected. 4060 (cannot open database) and 18452 (untrusted
// domain) are deliberately absent: new credentials would not fix them.
var authErrorNumbers = map[int32]bool{
	18456: true, // Login failed for user '%s'.
	18486: true, // Login failed: the account is locked out.
	18487: true, // Login failed: the password has expired.
	18488: true, // Login failed: the password must be changed.
}

// isAuthError reports whether err holds an mssql.Error (go-mssqldb returns it
// by value) whose number is one of the login failures above.
func isAuthError(err error) bool {
	var e mssql.Error
	if !errors.As(err, &e) {
		return false
	}
	return authErrorNumbers[e.Number]
}

// knownParams are the go-mssqldb connection parameters a DSN may pass through,
// lower-cased as msdsn stores them. go-mssqldb itself accepts any key and
// ignores the ones it does not know, so a typo would go unnoticed without
// this list.
var knownParams = map[string]bool{
	msdsn.Encrypt:                true,
	msdsn.TrustServerCertificate: true,
	msdsn.Certificate:            true,
	msdsn.ServerCertificate:      true,
	msdsn.TLSMin:                 true,
	msdsn.HostNameInCertificate:  true,
	msdsn.PacketSize:             true,
	msdsn.LogParam:               true,
	msdsn.ConnectionTimeout:      true,
	msdsn.DialTimeout:            true,
	msdsn.KeepAlive:              true,
	msdsn.ServerSpn:              true,
	msdsn.WorkstationID:          true,
	msdsn.AppName:                true,
	msdsn.ApplicationIntent:      true,
	msdsn.FailoverPartner:        true,
	msdsn.FailOverPort:           true,
	msdsn.FailoverPartnerSpn:     true,
	msdsn.DisableRetry:           true,
	msdsn.Protocol:               true,
	msdsn.MultiSubnetFailover:    true,
	msdsn.NoTraceID:              true,
	msdsn.GuidConversion:         true,
	msdsn.Timezone:               true,
	msdsn.EpaEnabled:             true,
	"columnencryption":           true,
}

// credentialParams carry credentials, which come only from the secret. The
// list includes go-mssqldb's ADO synonyms so that the error names the
// problem instead of calling the key unknown.
var credentialParams = map[string]bool{
	msdsn.UserID:         true,
	msdsn.Password:       true,
	msdsn.ChangePassword: true,
	"user":               true,
	"uid":                true,
	"pwd":                true,
	"username":           true,
	"user name":          true,
	"authenticator":      true, // switches to integrated authentication
	"fedauth":            true, // Entra ID authentication (not used by this connector)
}

// endpointParams name the server or the database, which come from the secret
// or from secretsql's own host, port and dbname DSN keys.
var endpointParams = map[string]bool{
	msdsn.Server:       true,
	msdsn.Port:         true,
	msdsn.Database:     true,
	msdsn.Pipe:         true,
	"data source":      true,
	"address":          true,
	"addr":             true,
	"network address":  true,
	"initial catalog":  true,
	"instance":         true,
	"failover partner": true, // ADO spelling; the msdsn key is "failoverpartner"
}

// params are the rules of the pass-through parameters, keyed the way
// msdsn stores them (lower case).
var params = enginekit.Params{
	Fold:           strings.ToLower,
	Known:          knownParams,
	Credential:     credentialParams,
	Endpoint:       endpointParams,
	EndpointReason: "the server and database come from the secret or from the host, port and dbname keys; remove this key",
	UnknownReason:  "unknown SQL Server connection parameter (see go-mssqldb's documentation for the supported keys)",
	ParseReason:    "go-mssqldb rejected the connection parameters",
}

// prepare checks the pass-through parameters, and parses them once with
// msdsn.Parse so that go-mssqldb's own errors (a bad value, an unreadable
// certificate) are reported when the DSN is opened.
func prepare(dsnParams url.Values) (prepared, error) {
	query, err := params.Parse(dsnParams, parse)
	if err != nil {
		return nil, err
	}
	return prepared(query), nil
}

// parse has msdsn.Parse check query with a placeholder server and the
// default database (a connect always has one), since some parameters depend
// on it.
func parse(query url.Values) error {
	check := url.Values{msdsn.Database: {"master"}}
	for k, vs := range query {
		check[k] = vs
	}
	u := url.URL{Scheme: "sqlserver", Host: "localhost", RawQuery: check.Encode()}
	_, err := msdsn.Parse(u.String())
	return err
}

// build turns one version of the credentials and the prepared parameters
// into a go-mssqldb configuration, using msdsn.Parse so that the driver's
// defaults (protocols, dial timeout, TLS, app name, …) are filled in exactly
// as for a connection string. The password is set on the parsed
// configuration and never goes through a string. An error of the parser
// itself is the environment's (a certificate file that went away): the
// parameters were checked before.
func build(params prepared, c secretsql.Credentials) (msdsn.Config, error) {
	if c.Port < 1 || c.Port > 65535 {
		return msdsn.Config{}, &secretsql.SecretError{Key: "port", Reason: fmt.Sprintf("port %d is out of range 1-65535", c.Port)}
	}
	query := maps.Clone(url.Values(params))
	if c.Database != "" {
		query.Set(msdsn.Database, c.Database)
	}
	u := url.URL{
		Scheme:   "sqlserver",
		User:     url.User(c.Username),
		Host:     net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
		RawQuery: query.Encode(),
	}
	cfg, err := msdsn.Parse(u.String())
	if err != nil {
		return msdsn.Config{}, err
	}
	// The parser must have understood the endpoint exactly as given; it maps
	// a few host spellings (".", "(local)") to others, for instance.
	bad := func(key, reason string) (msdsn.Config, error) {
		return msdsn.Config{}, &secretsql.SecretError{Key: key, Reason: reason}
	}
	switch {
	case cfg.Host != c.Host:
		return bad("host", fmt.Sprintf("host %q cannot be used with go-mssqldb", c.Host))
	case cfg.Port != uint64(c.Port):
		return bad("port", fmt.Sprintf("port %d cannot be used with go-mssqldb", c.Port))
	case cfg.Database != c.Database:
		return bad("dbname", fmt.Sprintf("database name %q cannot be used with go-mssqldb", c.Database))
	case cfg.User != c.Username:
		return bad("username", "the user name cannot be used with go-mssqldb")
	case cfg.Instance != "":
		return bad("host", "named instances are not supported: give the instance's port instead")
	}
	cfg.User = c.Username
	cfg.Password = c.Password()
	return cfg, nil
}
