// Package oracle registers the "oracle" engine with secretsql, on top of the
// pure-Go driver github.com/sijms/go-ora/v2. Importing it for its side effect
// makes the database/sql driver "secretsmanager-oracle" available:
//
//	import _ "github.com/secretsql/secretsql/engines/oracle"
//
//	db, err := sql.Open("secretsmanager-oracle",
//		"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/ora-AbCdEf?SSL=true&CONNECT+TIMEOUT=10")
//
// The secret's "dbname" is the service name. A database known only by its
// SID is reached with the SID DSN key, which then takes precedence over the
// service name. Both may hold only letters, digits and . _ - $ #, since
// go-ora writes them into the connect descriptor unquoted. Every other DSN
// key is a go-ora URL option (SSL, SSL VERIFY, WALLET, CONNECT TIMEOUT,
// TIMEOUT, PREFETCH_ROWS, LOB FETCH, TRACE FILE, …), matched
// case-insensitively; unknown options, and options that carry credentials
// or replace the endpoint (OS PASSWORD, CONNSTR, SERVICE NAME, …), are
// rejected.
//
// go-ora has no configuration struct for a connector: every Connect re-parses
// a URL. The engine builds that URL with net/url, so that any user name,
// password and service name survive the trip, and checks it with
// go_ora.ParseConfig before use. The URL holds the password; it never appears
// in an error.
//
// A login is treated as rejected credentials when Oracle answers ORA-01017
// (invalid username/password), ORA-28000 (account locked), ORA-28001
// (password expired) or ORA-01005 (null password).
package oracle

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	go_ora "github.com/sijms/go-ora/v2"
	"github.com/sijms/go-ora/v2/network"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/engine"
	"github.com/secretsql/secretsql/internal/enginekit"
)

// oracleEngine is registered at init. Oracle secrets always name the
// service, so there is no default database; it accepts the secret engine
// values RDS uses for Oracle: the generic one and one per edition,
// container databases included.
var oracleEngine = enginekit.New("oracle", 1521, "", prepare, isAuthError,
	"oracle", "oracle-ee", "oracle-se2", "oracle-ee-cdb", "oracle-se2-cdb")

func init() { engine.Register(oracleEngine) }

// options are a DSN's checked go-ora URL options.
type options struct {
	query url.Values
	sid   string
}

// Connector builds a go-ora connector for one version of the credentials.
// It does no network I/O; the WALLET option makes go-ora read the wallet
// file.
func (o options) Connector(c secretsql.Credentials) (driver.Connector, error) {
	dsn, err := o.url(c)
	if err != nil {
		return nil, err
	}
	return go_ora.NewConnector(dsn), nil
}

// prepare checks the options, and parses them once with go-ora, with a
// placeholder server and service, so that go-ora's own errors are reported
// when the DSN is opened.
func prepare(params url.Values) (options, error) {
	sid, err := checkSID(params)
	if err != nil {
		return options{}, err
	}
	query, err := optionRules.Parse(params, parse)
	if err != nil {
		return options{}, err
	}
	return options{query: query, sid: sid}, nil
}

// parse has go-ora parse the options query, with a placeholder server and
// service.
func parse(query url.Values) error {
	u := url.URL{Scheme: "oracle", Host: "localhost:1521", Path: "/service", RawQuery: query.Encode()}
	_, err := go_ora.ParseConfig(u.String())
	return dropURLError(err)
}

// authErrorCodes are the ORA- codes that mean the login's credentials were
// rejected. ORA-28002 (password will expire) is only a warning: the login
// succeeds. ORA-01045 (no CREATE SESSION privilege) is a grant problem that
// new credentials would not fix.
var authErrorCodes = map[int]bool{
	1005:  true, // null password given; logon denied
	1017:  true, // invalid username/password; logon denied
	28000: true, // the account is locked
	28001: true, // the password has expired
}

// isAuthError reports whether err holds a *network.OracleError whose code is
// one of the login failures above.
func isAuthError(err error) bool {
	var e *network.OracleError
	if !errors.As(err, &e) || e == nil {
		return false
	}
	return authErrorCodes[e.ErrCode]
}

// knownOptions are the go-ora URL options (upper case, as go-ora compares
// them) a DSN may pass through. go-ora rejects unknown options itself; this
// list lets NewConnector name the key without running the parser, and keeps
// out the options rejected below.
var knownOptions = map[string]bool{
	"SID":                          true,
	"INSTANCE NAME":                true,
	"SERVER":                       true, // additional listeners, host:port
	"CID":                          true,
	"WALLET":                       true,
	"WALLET PASSWORD":              true, // protects the wallet, not the database login
	"AUTH SERV":                    true,
	"ENCRYPTION":                   true,
	"DATA INTEGRITY":               true,
	"SSL":                          true,
	"SSL VERIFY":                   true,
	"DBA PRIVILEGE":                true,
	"TIMEOUT":                      true,
	"READ TIMEOUT":                 true,
	"SOCKET TIMEOUT":               true,
	"CONNECT TIMEOUT":              true,
	"CONNECTION TIMEOUT":           true,
	"TRACE FILE":                   true,
	"TRACE DIR":                    true,
	"TRACE FOLDER":                 true,
	"TRACE DIRECTORY":              true,
	"USE_OOB":                      true,
	"ENABLE_OOB":                   true,
	"ENABLE URGENT DATA TRANSPORT": true,
	"PREFETCH_ROWS":                true,
	"UNIX SOCKET":                  true,
	"PROXY CLIENT NAME":            true,
	"LOB FETCH":                    true,
	"LANGUAGE":                     true,
	"TERRITORY":                    true,
	"CHARSET":                      true,
	"CLIENT CHARSET":               true,
	"PROGRAM":                      true,
	"SERVER LOCATION":              true,
}

// multiValued options may be given more than once; go-ora reads only the
// first value of the others.
var multiValued = map[string]bool{"SERVER": true, "AUTH SERV": true}

// credentialOptions carry credentials or switch the login away from the
// secret's user name and password.
var credentialOptions = map[string]bool{
	"USER":             true,
	"USER ID":          true,
	"USERNAME":         true,
	"PASSWORD":         true,
	"OS USER":          true,
	"OS PASS":          true,
	"OS PASSWORD":      true,
	"OS HASH":          true,
	"OS PASSHASH":      true,
	"OS PASSWORD HASH": true,
	"DOMAIN":           true,
	"AUTH TYPE":        true,
}

// endpointOptions replace the host, port or service that come from the
// secret or from secretsql's own host, port and dbname DSN keys.
var endpointOptions = map[string]bool{
	"CONNSTR":      true,
	"SERVICE NAME": true,
	"HOST":         true,
	"PORT":         true,
	"DBNAME":       true,
}

// url returns the go-ora URL for one version of the credentials, after
// checking that go-ora parses back exactly them from it. A value go-ora
// cannot carry is a *secretsql.SecretError.
func (o options) url(c secretsql.Credentials) (string, error) {
	bad := func(key, reason string) (string, error) {
		return "", &secretsql.SecretError{Key: key, Reason: reason}
	}
	switch {
	case c.Port < 1 || c.Port > 65535:
		return bad("port", fmt.Sprintf("port %d is out of range 1-65535", c.Port))
	case c.Database == "" && o.sid == "":
		return "", &secretsql.SecretError{Key: "dbname", Kind: secretsql.ErrMissingKey,
			Reason: "Oracle needs a service name: set dbname in the secret or the DSN, or give the SID key"}
	case c.Database != "" && !oracleName(c.Database):
		return bad("dbname", "the service name may hold only letters, digits and . _ - $ # "+
			"(go-ora writes it into the connect descriptor as it is)")
	}
	// go-ora's errors may quote the URL. Parse it first with a placeholder
	// password, so that an error about the host or the service can be shown
	// whole and cannot hold or depend on the real password.
	u := url.URL{
		Scheme:   "oracle",
		User:     url.UserPassword(c.Username, placeholderPassword),
		Host:     net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
		Path:     "/" + c.Database,
		RawQuery: o.query.Encode(),
	}
	if _, err := go_ora.ParseConfig(u.String()); err != nil {
		return "", &secretsql.SecretError{Reason: "go-ora cannot use the host, service name or user name", Err: dropURLError(err)}
	}
	u.User = url.UserPassword(c.Username, c.Password())
	dsn := u.String()
	cfg, err := go_ora.ParseConfig(dsn)
	if err != nil { // only the password differs from the URL parsed above; never show err
		return "", errCredentialsInURL()
	}
	switch {
	case len(cfg.Servers) == 0 || cfg.Servers[0].Addr != c.Host || cfg.Servers[0].Port != c.Port:
		return bad("host", fmt.Sprintf("host %q cannot be used with go-ora", c.Host))
	case cfg.ServiceName != c.Database:
		return bad("dbname", fmt.Sprintf("service name %q cannot be used with go-ora", c.Database))
	case cfg.UserID != c.Username || cfg.Password != c.Password():
		return "", errCredentialsInURL()
	}
	return dsn, nil
}

// optionRules are the rules of the go-ora URL options, matched upper-case
// as go-ora compares them.
var optionRules = enginekit.Params{
	Fold:           strings.ToUpper,
	Known:          knownOptions,
	Credential:     credentialOptions,
	Endpoint:       endpointOptions,
	MultiValued:    multiValued,
	EndpointReason: "the server and service come from the secret or from the host, port and dbname keys; remove this key",
	UnknownReason:  "unknown go-ora URL option (see go-ora's documentation for the supported keys)",
	ParseReason:    "go-ora rejected the connection options",
}

// checkSID returns the SID of the options, if one is given, after checking
// that go-ora can write it into the connect descriptor. optionRules check
// that it is given once.
func checkSID(params url.Values) (string, error) {
	for k, vs := range params {
		if strings.ToUpper(k) != "SID" || len(vs) == 0 {
			continue
		}
		switch {
		case vs[0] == "":
			return "", &secretsql.DSNError{Key: k, Reason: "the SID is empty"}
		case !oracleName(vs[0]):
			return "", &secretsql.DSNError{Key: k, Reason: fmt.Sprintf("SID %q may hold only letters, digits and . _ - $ # "+
				"(go-ora writes it into the connect descriptor as it is)", vs[0])}
		}
		return vs[0], nil
	}
	return "", nil
}

// oracleName reports whether s, a service name or a SID, holds only ASCII
// letters, digits and . _ - $ #. go-ora v2.9.0 writes both into the connect
// descriptor as they are, (CONNECT_DATA=(SERVICE_NAME=…)) or (SID=…), where
// ( ) = are Oracle Net's syntax and \ " ' are reserved (a space needs
// quotes): the service name "svc)(INSTANCE_NAME=x" would add an element.
// Oracle's naming rules allow letters, digits and _ # . $ in a service name
// ('#' is reserved only where it starts a line of a configuration file,
// and the descriptor is one line); go-ora's own descriptor parser reads
// SERVICE_NAME and SID values of letters, digits and _ . -, and '-' is no
// syntax either. Such a name needs no quoting or escaping, so none is
// attempted.
func oracleName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-$#", r)) {
			return false
		}
	}
	return s != ""
}

// placeholderPassword stands for the password in the first parse of the URL
// (see buildURL).
const placeholderPassword = "placeholder"

// errCredentialsInURL reports a user name or password that go-ora's URL
// parser does not give back unchanged. It never holds the parser's error,
// whose text could quote the password.
func errCredentialsInURL() error {
	return &secretsql.SecretError{Key: "username", Reason: "the user name or password cannot be carried in a go-ora URL"}
}

// urlParseError stands for a net/url parse error, whose text quotes the
// whole URL.
type urlParseError struct{}

func (urlParseError) Error() string { return "the connection URL could not be parsed" }

// dropURLError replaces a *url.Error, which quotes the URL, by a fixed
// message; other go-ora errors name only the option, host or service at
// fault and are returned unchanged.
func dropURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return urlParseError{}
	}
	return err
}
