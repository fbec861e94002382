package secretsql

import (
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/secretsql/secretsql/credential"
)

// Staging labels of Secrets Manager.
const (
	StageCurrent = "AWSCURRENT"
	StagePending = "AWSPENDING"
)

// dsnConfig is a parsed DSN: `<secret-id>[?key=value&…]`.
//
// The keys secretsql reads itself (all lower case):
//
//	region    AWS region of Secrets Manager          default: the ARN's region, else the SDK's default chain
//	endpoint  Secrets Manager endpoint URL            default: the SDK's rules (AWS_ENDPOINT_URL_SECRETS_MANAGER, …)
//	host      database host, overrides the secret's   default: the secret's "host"
//	port      database port, overrides the secret's   default: the secret's "port", else the engine's port
//	dbname    database name, overrides the secret's   default: the secret's "dbname", else the engine's default
//	stage     staging label to read                   default: AWSCURRENT
//	ttl       refresh interval (Go duration)          default: 1h (or WithRefreshInterval); 10s for a file
//	source    where the secret is read: secretsmanager (the GetSecretValue API) or agent
//	agent     the agent's host:port, on loopback      default: localhost:$PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, else localhost:2773
//	failover_region  the region of a replica to read when the primary region is unavailable
//
// A secret id "file:/path" (or "file:///path") reads a file holding the
// secret's JSON, such as one the Secrets Store CSI driver mounts.
//
// Every other key is passed to the native driver unchanged.
type dsnConfig struct {
	secretID       string
	file           string       // the path of a file: secret id
	scheme         string       // a scheme registered with credential.RegisterScheme …
	opaque         string       // … what follows "scheme:" …
	schemeQuery    url.Values   // … and the scheme's own keys
	token          *tokenTarget // an iam:// or dsql:// DSN
	region         string
	endpoint       string
	host           string
	port           int
	dbname         string
	hasDB          bool
	stage          string
	ttl            time.Duration
	source         string // "" (the API) or "agent"
	agent          string // host:port
	failoverRegion string
	params         url.Values
}

// ourKeys are the DSN keys secretsql consumes.
var ourKeys = map[string]bool{
	"region": true, "endpoint": true, "host": true, "port": true,
	"dbname": true, "stage": true, "ttl": true,
	"source": true, "agent": true, "failover_region": true,
	"token_lifetime": true, "allow_plaintext": true,
}

const maxSecretIDLen = 2048

func dsnErr(key, reason string, err error) error {
	return &DSNError{Key: key, Reason: reason, Err: err}
}

// parseDSN parses `<secret-id>[?query]`. It never sees a password, so its
// errors may quote what they reject.
func parseDSN(dsn string) (dsnConfig, error) { return parseDSNWith(dsn, false) }

// parseDSNWith parses a DSN; with custom (a source given by WithSource) the
// DSN names no secret: it is empty or only `?key=value&…`.
func parseDSNWith(dsn string, custom bool) (dsnConfig, error) {
	var d dsnConfig
	id, query, _ := strings.Cut(strings.TrimSpace(dsn), "?")
	scheme := schemeOf(id)
	switch {
	case custom:
		if id != "" {
			return d, dsnErr("", "with WithSource the DSN names no secret: give only ?key=value&…", nil)
		}
	case scheme == "iam" || scheme == "dsql":
		if err := parseTokenDSN(&d, scheme, id); err != nil {
			return d, err
		}
	case scheme == "file":
		path, _ := filePath(id)
		if !filepath.IsAbs(path) || strings.ContainsRune(path, 0) {
			return d, dsnErr("", strconv.Quote(id)+" is not a file: secret id with an absolute path (file:/mnt/secrets-store/name)", nil)
		}
		d.file = filepath.Clean(path)
	case scheme != "":
		if _, _, ok := credential.Lookup(scheme); !ok {
			return d, dsnErr("", "unknown DSN scheme "+strconv.Quote(scheme)+
				" (a secret name or ARN, file:, or a scheme of an imported package such as vault:)", nil)
		}
		d.scheme, d.opaque = scheme, id[len(scheme)+1:]
	default:
		if err := validateSecretID(id); err != nil {
			return d, err
		}
	}
	d.secretID = id
	vals, err := url.ParseQuery(query)
	if err != nil {
		return d, dsnErr("", "the query after '?' is not valid URL query syntax", err)
	}
	d.params = url.Values{}
	for k, vs := range vals {
		if !ourKeys[k] {
			if lk := strings.ToLower(k); ourKeys[lk] {
				return d, dsnErr(k, "secretsql keys are lower case: use "+strconv.Quote(lk), nil)
			}
			d.params[k] = vs
			continue
		}
		if len(vs) != 1 {
			return d, dsnErr(k, "given more than once", nil)
		}
		v := vs[0]
		if v == "" {
			return d, dsnErr(k, "empty value", nil)
		}
		switch k {
		case "region":
			if !validRegion(v) {
				return d, dsnErr(k, strconv.Quote(v)+" is not an AWS region name (like us-east-1)", nil)
			}
			d.region = v
		case "endpoint":
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return d, dsnErr(k, strconv.Quote(v)+" is not an http(s) URL", nil)
			}
			d.endpoint = v
		case "host":
			h := strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
			if !validHost(h) {
				return d, dsnErr(k, strconv.Quote(v)+" is not a host name or IP address", nil)
			}
			d.host = h
		case "port":
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 65535 {
				return d, dsnErr(k, strconv.Quote(v)+" is not a port number (1-65535)", nil)
			}
			d.port = p
		case "dbname":
			d.dbname, d.hasDB = v, true
		case "stage":
			if len(v) > 256 || strings.ContainsAny(v, " \t\r\n") {
				return d, dsnErr(k, strconv.Quote(v)+" is not a staging label", nil)
			}
			d.stage = v
		case "ttl":
			t, err := time.ParseDuration(v)
			if err != nil || t < time.Second {
				return d, dsnErr(k, strconv.Quote(v)+" is not a duration of at least 1s (like 30m)", nil)
			}
			d.ttl = t
		case "source":
			switch v {
			case "secretsmanager":
			case "agent":
				d.source = v
			default:
				return d, dsnErr(k, strconv.Quote(v)+" is not a source: secretsmanager (the default) or agent", nil)
			}
		case "agent":
			h, p, err := net.SplitHostPort(v)
			if err != nil || h == "" || !validHost(h) || !validPort(p) {
				return d, dsnErr(k, strconv.Quote(v)+" is not host:port (like localhost:2773)", nil)
			}
			if !loopbackHost(h) {
				return d, dsnErr(k, strconv.Quote(v)+" is not on loopback (localhost, 127.0.0.0/8 or [::1]): the agent and the Lambda extension listen on the local host only, and the SSRF token must not leave it", nil)
			}
			d.agent = v
		case "token_lifetime":
			t, err := time.ParseDuration(v)
			if err != nil || t < time.Second || t > maxDSQLLifetime {
				return d, dsnErr(k, strconv.Quote(v)+" is not a duration between 1s and 168h", nil)
			}
			if d.token == nil || !d.token.dsql {
				return d, dsnErr(k, "token_lifetime applies to dsql:// only (RDS tokens last 15 minutes)", nil)
			}
			d.token.lifetime = t
		case "allow_plaintext":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return d, dsnErr(k, strconv.Quote(v)+" is not true or false", nil)
			}
			if d.token == nil {
				return d, dsnErr(k, "allow_plaintext applies to iam:// and dsql:// only", nil)
			}
			d.token.allowPlaintext = b
		case "failover_region":
			if !validRegion(v) {
				return d, dsnErr(k, strconv.Quote(v)+" is not an AWS region name (like us-west-2)", nil)
			}
			d.failoverRegion = v
		}
	}
	if d.scheme != "" {
		d.schemeQuery = splitSchemeQuery(d.scheme, d.params)
	}
	if err := d.checkSource(); err != nil {
		return d, err
	}
	if a, ok := parseSecretARN(id); ok && d.region != "" && a.Region != d.region {
		return d, dsnErr("region", "region "+strconv.Quote(d.region)+" conflicts with the secret ARN's region "+
			strconv.Quote(a.Region)+"; drop the key or use the replica's ARN", nil)
	}
	return d, nil
}

// checkSource refuses keys that the secret's source does not use.
func (d *dsnConfig) checkSource() error {
	if d.token != nil {
		if r := hostRegion(d.token.host); r != "" {
			if d.region != "" && d.region != r {
				return dsnErr("region", "region "+strconv.Quote(d.region)+" conflicts with the endpoint's region "+strconv.Quote(r), nil)
			}
			d.region = r
		}
		if d.host != d.token.host || d.port != d.token.port {
			return dsnErr("host", "host and port are the endpoint's in an "+d.secretID[:strings.Index(d.secretID, ":")]+":// DSN", nil)
		}
		for k, v := range map[string]string{"endpoint": d.endpoint, "source": d.source, "agent": d.agent,
			"failover_region": d.failoverRegion, "stage": d.stage} {
			if v != "" {
				return dsnErr(k, k+" applies to Secrets Manager secrets only", nil)
			}
		}
		return nil
	}
	if d.scheme != "" || d.secretID == "" {
		for k, v := range map[string]string{"region": d.region, "endpoint": d.endpoint, "source": d.source, "agent": d.agent,
			"failover_region": d.failoverRegion, "stage": d.stage} {
			if v != "" {
				return dsnErr(k, k+" applies to Secrets Manager secrets only", nil)
			}
		}
	}
	switch {
	case d.file != "":
		for k, v := range map[string]string{"region": d.region, "endpoint": d.endpoint, "source": d.source, "agent": d.agent,
			"failover_region": d.failoverRegion, "stage": d.stage} {
			if v != "" {
				return dsnErr(k, "a file: secret is read from the file: "+k+" does not apply", nil)
			}
		}
	case d.agent != "" && d.source != "agent":
		return dsnErr("agent", "add source=agent to read through the agent", nil)
	case d.source == "agent" && d.endpoint != "":
		return dsnErr("endpoint", "source=agent reads through the agent, which has its own endpoint", nil)
	case d.source == "agent" && d.region != "":
		// The agent's API has no region parameter: the agent reads in the
		// region of its own configuration.
		return dsnErr("region", "source=agent reads in the agent's own region (its configuration; the agent's API takes none): drop region, or read the API with source=secretsmanager", nil)
	case d.failoverRegion != "" && d.failoverRegion == d.region:
		return dsnErr("failover_region", "the failover region is the primary region", nil)
	}
	if a, ok := parseSecretARN(d.secretID); ok && d.failoverRegion == a.Region {
		return dsnErr("failover_region", "the failover region is the secret ARN's region", nil)
	}
	return nil
}

// filePath returns the path of a file: secret id.
func filePath(id string) (string, bool) {
	if p, ok := strings.CutPrefix(id, "file://"); ok {
		return p, true
	}
	return strings.CutPrefix(id, "file:")
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

func validateSecretID(id string) error {
	switch {
	case id == "":
		return dsnErr("", "no secret id: the DSN starts with a secret ARN, partial ARN or name", nil)
	case len(id) > maxSecretIDLen:
		return dsnErr("", "the secret id is too long", nil)
	case strings.HasPrefix(id, "arn:"):
		if _, ok := parseSecretARN(id); !ok {
			return dsnErr("", strconv.Quote(id)+" is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)", nil)
		}
		return nil
	}
	for _, r := range id {
		if !secretNameRune(r) {
			return dsnErr("", strconv.Quote(id)+" is not a secret name (letters, digits and /_+=.@-! only)", nil)
		}
	}
	return nil
}

// secretNameRune accepts the characters of secret names: those users may
// choose (letters, digits and /_+=.@-) and '!', which services use for the
// secrets they manage (RDS: rds!db-…, rds!cluster-…).
func secretNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_+=.@-!", r)
}

// parseSecretARN parses a full or partial secret ARN.
func parseSecretARN(id string) (arn.ARN, bool) {
	if !arn.IsARN(id) {
		return arn.ARN{}, false
	}
	a, err := arn.Parse(id)
	if err != nil || !validPartition(a.Partition) || a.Service != "secretsmanager" || !validRegion(a.Region) || !digits(a.AccountID) {
		return arn.ARN{}, false
	}
	name, ok := strings.CutPrefix(a.Resource, "secret:")
	if !ok || name == "" {
		return arn.ARN{}, false
	}
	for _, r := range name {
		if !secretNameRune(r) {
			return arn.ARN{}, false
		}
	}
	return a, true
}

// validPartition accepts AWS partition names: aws, aws-cn, aws-us-gov,
// aws-iso-b, …
func validPartition(s string) bool {
	if !strings.HasPrefix(s, "aws") || strings.HasSuffix(s, "-") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '-') {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// validRegion accepts AWS region names such as us-east-1, eu-central-2 and
// us-gov-west-1 (lower-case letters, digits and dashes, with a dash).
func validRegion(s string) bool {
	if len(s) < 4 || len(s) > 32 || !strings.Contains(s, "-") || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
