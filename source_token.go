package secretsql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	rdsauth "github.com/aws/aws-sdk-go-v2/feature/rds/auth"
)

// tokenSource signs RDS / Aurora IAM database authentication tokens
// (iam://) or Aurora DSQL tokens (dsql://): a SigV4-presigned connect
// request, made locally with the AWS credentials of the process, used as
// the password. A token is a credential with an expiry: 15 minutes for RDS
// (DSQL: the DSN's token_lifetime, 15 minutes by default), and never past
// the expiry of the AWS credentials that signed it. Signing is local and
// costs microseconds, so a token is signed again at once after a rejected
// login (no rate limit); a cold storm of connects shares one signing.
type tokenSource struct {
	t       tokenTarget
	region  string
	creds   aws.CredentialsProvider
	id      string // the DSN's id, for errors
	info    sourceInfo
	signNow func() time.Time

	mu      sync.Mutex
	last    *fetched // the last token …
	lastKey string   // … and the access key that signed it
}

// tokenTarget is what an iam:// or dsql:// DSN names.
type tokenTarget struct {
	dsql           bool
	user           string
	host           string
	port           int
	lifetime       time.Duration // DSQL only; 0: 15 minutes
	allowPlaintext bool          // allow_plaintext=true: a local test without TLS
}

// tokenIdentity scopes cache entries: who signs, for which user of which
// endpoint, in which region, with which lifetime.
type tokenIdentity struct {
	principal any
	target    tokenTarget
	region    string
}

const (
	rdsTokenLifetime  = 15 * time.Minute // fixed by RDS (X-Amz-Expires=900)
	dsqlTokenLifetime = 15 * time.Minute // the DSQL SDK's default
	maxDSQLLifetime   = 7 * 24 * time.Hour
)

var _ source = (*tokenSource)(nil)

// newTokenSource builds the signer of a token DSN with the options' AWS
// configuration (WithAWSConfig, else the SDK's default chain).
func newTokenSource(d *dsnConfig, cfg *config) (*tokenSource, error) {
	var awsCfg aws.Config
	if cfg.awsConfig != nil {
		awsCfg = *cfg.awsConfig
	} else {
		c, err := defaultAWSConfig()
		if err != nil {
			return nil, &DSNError{Key: "AWS configuration", Reason: "loading the default AWS configuration failed", Err: err, option: true}
		}
		awsCfg = c
	}
	if awsCfg.Credentials == nil {
		return nil, &DSNError{Key: "AWS configuration", Reason: "no AWS credentials to sign tokens with", option: true}
	}
	region := d.region
	if region == "" {
		region = awsCfg.Region
	}
	if region == "" {
		return nil, dsnErr("region", "no AWS region: use the RDS or DSQL endpoint's host name, add region=… to the DSN, or set AWS_REGION", nil)
	}
	kind := "iam"
	if d.token.dsql {
		kind = "dsql"
	}
	s := &tokenSource{t: *d.token, region: region, creds: awsCfg.Credentials, id: d.secretID, signNow: time.Now}
	s.info = sourceInfo{
		kind:     kind,
		identity: tokenIdentity{principal: principalOf(awsCfg.Credentials, s), target: s.t, region: region},
		region:   region,
		noStages: true,
		authHint: s.authHint(),
	}
	return s, nil
}

func (s *tokenSource) describe() sourceInfo { return s.info }

func (s *tokenSource) fetch(ctx context.Context, r fetchRequest) (fetched, error) {
	start := time.Now()
	f, err := s.sign(ctx, r.rejected != "")
	ev := Event{Kind: EventFetch, Duration: time.Since(start), VersionID: f.cred.Version}
	if err != nil {
		ev.Kind, ev.Err, ev.VersionID = EventFetchFailed, err, ""
	}
	r.report(ev)
	return f, err
}

// sign signs a token with the credentials the provider gives now. Unless
// the last token was rejected, a token capped at the expiry of the same
// credentials is not signed again: a new one would end at the same time.
func (s *tokenSource) sign(ctx context.Context, rejected bool) (fetched, error) {
	c, err := s.creds.Retrieve(ctx)
	if err != nil {
		return fetched{}, s.fail(err, "retrieving the AWS credentials that sign the token failed: check the credentials the SDK's "+
			"default chain or WithAWSConfig provides (on EKS the pod's service account role, on EC2 and ECS the instance or task role)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.last; l != nil && !rejected && c.CanExpire && s.lastKey == c.AccessKeyID && l.cred.Expiry.Equal(c.Expires) {
		return *l, nil
	}
	now := s.signNow()
	var token string
	lifetime := rdsTokenLifetime
	static := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })
	if s.t.dsql {
		lifetime = dsqlTokenLifetime
		if s.t.lifetime > 0 {
			lifetime = s.t.lifetime
		}
		token, err = signDSQL(ctx, c, s.t.host, s.region, s.t.user == "admin", lifetime, now)
	} else {
		token, err = rdsauth.BuildAuthToken(ctx, net.JoinHostPort(s.t.host, strconv.Itoa(s.t.port)), s.region, s.t.user, static)
	}
	if err != nil {
		return fetched{}, s.fail(err, "signing the token failed")
	}
	expiry := now.Add(lifetime)
	if c.CanExpire && c.Expires.Before(expiry) {
		expiry = c.Expires // a token is not valid past the credentials that signed it
	}
	sum := sha256.Sum256([]byte(token))
	cred := Credentials{Username: s.t.user, Version: s.info.kind + ":" + hex.EncodeToString(sum[:8]), Expiry: expiry}
	f := fetched{cred: cred.WithPassword(token)}
	s.last, s.lastKey = &f, c.AccessKeyID
	return f, nil
}

// signDSQL makes an Aurora DSQL token as feature/dsql/auth does: a SigV4
// presigned GET https://<endpoint>/?Action=DbConnect (DbConnectAdmin for the
// admin user) for the service dsql, without the scheme.
func signDSQL(ctx context.Context, c aws.Credentials, endpoint, region string, admin bool, lifetime time.Duration, now time.Time) (string, error) {
	action := "DbConnect"
	if admin {
		action = "DbConnectAdmin"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+endpoint, nil)
	if err != nil {
		return "", err
	}
	q := url.Values{"Action": {action}, "X-Amz-Expires": {strconv.Itoa(int(lifetime / time.Second))}}
	req.URL.RawQuery = q.Encode()
	const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, c, req, emptyPayloadHash, "dsql", region, now.UTC())
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(signed, "https://"), nil
}

// fail makes the FetchError of a signing.
func (s *tokenSource) fail(err error, hint string) error {
	return &FetchError{SecretID: s.id, Stage: "(token)", Kind: ErrSourceFailed, Err: err, hint: hint, source: s.info.kind}
}

// authHint is what a rejected IAM login most likely means.
func (s *tokenSource) authHint() string {
	if s.t.dsql {
		return "Aurora DSQL refused the token: the IAM role needs dsql:DbConnect (dsql:DbConnectAdmin for admin) on the cluster, " +
			"a user other than admin needs a database role mapped to it (AWS IAM GRANT), and the clock must be right"
	}
	return "IAM authentication refused the token: the user must be in rds_iam (PostgreSQL: GRANT rds_iam TO " + s.t.user +
		") or IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' (MySQL, MariaDB), the IAM role needs rds-db:connect on " +
		"arn:aws:rds-db:" + s.region + ":<account>:dbuser:<DbiResourceId>/" + s.t.user +
		", IAM authentication must be on for the instance, and the clock must be within minutes of AWS's"
}

// parseTokenDSN parses the id of an iam:// or dsql:// DSN:
// iam://<user>@<host>:<port>/<dbname> or dsql://<user>@<endpoint>/<dbname>.
func parseTokenDSN(d *dsnConfig, scheme, id string) error {
	u, err := url.Parse(id)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return dsnErr("", scheme+"://<user>@<host>"+map[bool]string{true: "", false: ":<port>"}[scheme == "dsql"]+"/<dbname> expected", nil)
	}
	t := &tokenTarget{dsql: scheme == "dsql"}
	if u.User == nil || u.User.Username() == "" {
		return dsnErr("", "no user: "+scheme+"://<user>@<host>/…", nil)
	}
	if _, set := u.User.Password(); set {
		return dsnErr("", "an "+scheme+":// DSN has no password: the token is the password", nil)
	}
	t.user = u.User.Username()
	t.host = strings.ToLower(u.Hostname())
	if !validHost(t.host) {
		return dsnErr("", strconv.Quote(u.Hostname())+" is not a host name or IP address", nil)
	}
	switch p := u.Port(); {
	case t.dsql && p != "" && p != "5432":
		return dsnErr("", "Aurora DSQL listens on port 5432", nil)
	case t.dsql:
		t.port = 5432
	case p == "":
		return dsnErr("", "the port is part of an IAM token: iam://<user>@<host>:<port>/<dbname>", nil)
	case !validPort(p):
		return dsnErr("", strconv.Quote(p)+" is not a port number (1-65535)", nil)
	default:
		t.port, _ = strconv.Atoi(p)
	}
	d.token = t
	d.host, d.port = t.host, t.port
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		d.dbname, d.hasDB = db, true
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return dsnErr("", "unexpected characters after the database name", nil)
	}
	return nil
}

// hostRegion returns the AWS region in an RDS or DSQL host name
// (<name>.<id>.<region>.rds.amazonaws.com, <id>.dsql.<region>.on.aws),
// "" for any other host.
func hostRegion(host string) string {
	labels := strings.Split(strings.ToLower(host), ".")
	for i, l := range labels {
		if i+1 < len(labels) && (l == "dsql" || strings.HasPrefix(l, "dsql-")) && i+2 < len(labels) && validRegion(labels[i+1]) {
			return labels[i+1]
		}
		if l == "rds" && i > 0 && i+2 < len(labels) && labels[i+1] == "amazonaws" && validRegion(labels[i-1]) {
			return labels[i-1]
		}
	}
	return ""
}

// tokenParams completes the driver parameters of a token DSN with what IAM
// needs on engine: TLS (a token is a password valid for minutes: never sent
// in clear unless allow_plaintext=true says this is a local test) and, for
// MySQL and MariaDB, the cleartext password plugin.
func tokenParams(engine string, d *dsnConfig) error {
	t, p := d.token, d.params
	switch {
	case t.dsql && engine != "postgres":
		return dsnErr("", "Aurora DSQL speaks PostgreSQL: open dsql:// with secretsmanager-postgres", nil)
	case engine == "postgres":
		switch p.Get("sslmode") {
		case "":
			p.Set("sslmode", "require")
		case "disable", "allow", "prefer":
			if !t.allowPlaintext {
				return dsnErr("sslmode", "an IAM token must not travel in clear: use sslmode=verify-full (or require); "+
					"allow_plaintext=true allows it for a local test", nil)
			}
		}
	case engine == "mysql" || engine == "mariadb":
		if v := p.Get("allowCleartextPasswords"); v != "" && v != "true" && v != "1" {
			return dsnErr("allowCleartextPasswords", "IAM authentication sends the token with the cleartext plugin", nil)
		}
		p.Set("allowCleartextPasswords", "true")
		switch p.Get("tls") {
		case "":
			p.Set("tls", "true")
		case "false", "preferred":
			if !t.allowPlaintext {
				return dsnErr("tls", "the cleartext plugin must not send the token in clear: use tls=true (or a registered TLS "+
					"configuration); allow_plaintext=true allows it for a local test", nil)
			}
		}
	default:
		return dsnErr("", "IAM database authentication is for RDS and Aurora PostgreSQL, MySQL and MariaDB, not "+engine, nil)
	}
	return nil
}
