package cli

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/credential"
	"github.com/secretsql/secretsql/engine"
)

// Report is what check found, as printed by --json. Its field names are
// stable. It never holds the password: Password is "[REDACTED]" when the
// secret has one.
type Report struct {
	OK       bool   `json:"ok"`
	ExitCode int    `json:"exit_code"`
	Class    string `json:"class"` // ok, usage, unreadable, malformed, auth_failed, unreachable, internal

	SecretID  string `json:"secret_id"`        // the DSN's id, without its keys
	Source    string `json:"source,omitempty"` // what gave the credentials: secretsmanager, agent, file, iam, dsql, or a DSN scheme's name
	SecretARN string `json:"secret_arn,omitempty"`
	VersionID string `json:"version_id,omitempty"`
	Stage     string `json:"stage,omitempty"`    // the staging label the version was read by ("" for a source without labels)
	Region    string `json:"region,omitempty"`   // the AWS region read (Secrets Manager) or signed for (a token)
	Endpoint  string `json:"endpoint,omitempty"` // "" for the SDK's default endpoint

	Engine       string `json:"engine,omitempty"`
	EngineSource string `json:"engine_source,omitempty"` // "flag", "secret", "port" (iam://) or "dsn" (dsql://)
	SecretEngine string `json:"secret_engine,omitempty"` // the secret's "engine" key
	Host         string `json:"host,omitempty"`
	Port         int    `json:"port,omitempty"`
	Database     string `json:"database,omitempty"`
	User         string `json:"user,omitempty"`
	Password     string `json:"password,omitempty"`

	// Fetches are the reads secretsql made for the check (GetSecretValue
	// calls, requests to the agent, reads of a file, tokens signed), those
	// that look for a rotation after a rejected login included: check
	// reads nothing itself.
	Fetches []Fetch `json:"fetches"`
	// UsedPending: the database accepted AWSPENDING's credentials, not
	// AWSCURRENT's (a rotation between setSecret and finishSecret).
	UsedPending bool    `json:"used_pending,omitempty"`
	Timings     Timings `json:"timings_ms"`

	// Rotation is what check found about AWSPENDING after the database
	// rejected the credentials.
	Rotation *Rotation `json:"rotation,omitempty"`

	Error string   `json:"error,omitempty"`
	Hints []string `json:"hints,omitempty"`
}

// Fetch is one read of the credentials made by secretsql (a GetSecretValue
// call, a request to the agent, a read of the file, a token signed).
type Fetch struct {
	Source    string  `json:"source"`
	Region    string  `json:"region,omitempty"` // the region that served, when the read went to one
	Stage     string  `json:"stage"`            // "" for a source without staging labels
	VersionID string  `json:"version_id,omitempty"`
	Ms        float64 `json:"ms"`
	Failover  bool    `json:"failover,omitempty"` // served by the failover region
	Error     string  `json:"error,omitempty"`
}

// Timings are durations in milliseconds.
type Timings struct {
	Resolve float64 `json:"resolve"` // reading and checking the secret
	Connect float64 `json:"connect"` // opening one connection (with secretsql's retries)
	Ping    float64 `json:"ping"`
	Total   float64 `json:"total"`
}

// Rotation describes the AWSPENDING version of the secret.
type Rotation struct {
	PendingExists      bool   `json:"pending_exists"`
	PendingVersionID   string `json:"pending_version_id,omitempty"`
	CurrentVersionID   string `json:"current_version_id,omitempty"`
	InProgress         bool   `json:"in_progress"`                    // AWSPENDING is on another version than AWSCURRENT
	PasswordDiffers    bool   `json:"password_differs,omitempty"`     // AWSPENDING's password is not AWSCURRENT's
	LookupError        string `json:"lookup_error,omitempty"`         // reading AWSPENDING failed for another reason
	PendingUserDiffers bool   `json:"pending_user_differs,omitempty"` // alternating users
}

type checkFlags struct {
	engine   string
	params   string
	region   string
	endpoint string
	json     bool
	timeout  time.Duration
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f checkFlags
	fs := flag.NewFlagSet("secretsql check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: secretsql check <dsn> [flags]\n\n"+
			"Reads the credentials through secretsql, checks them and connects once. The DSN is a secret name or ARN,\n"+
			"file:/path, iam://user@host:port/db, dsql://user@endpoint/db or another registered scheme, optionally\n"+
			"followed by ?key=value&… (the DSN keys; --dsn-params adds to them). Flags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&f.engine, "engine", "", "secretsql engine: "+strings.Join(engineNames(), ", ")+" (default: the secret's \"engine\" key; postgres for dsql://; for iam://, the engine of the port)")
	fs.StringVar(&f.params, "dsn-params", "", "DSN query, as after '?' in the DSN: `k=v&…` (host, port, dbname, stage, region, endpoint, driver parameters)")
	fs.StringVar(&f.region, "region", "", "AWS region (the DSN key region)")
	fs.StringVar(&f.endpoint, "endpoint", "", "Secrets Manager endpoint URL (the DSN key endpoint)")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of text")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "bound for the whole check")
	pos, code, ok := parseArgs(fs, args, 1, "need exactly one DSN (a secret name or ARN, file:…, iam://…, dsql://…)", stderr)
	if !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	rep := check(ctx, pos[0], f)
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "secretsql check:", err)
			return exitInternal
		}
	} else {
		printReport(stdout, rep)
	}
	return rep.ExitCode
}

// checker holds the state of one check.
type checker struct {
	f      checkFlags
	rep    *Report
	awsCfg aws.Config
	id     string     // the DSN's id: a secret name or ARN, file:…, iam://…, dsql://…, or a scheme's
	dsnQ   url.Values // the DSN's keys
	kind   string     // what gives the credentials: secretsmanager, agent, file, iam, dsql, or a scheme's name
	opts   []secretsql.Option

	mu sync.Mutex // guards the report's fields the observer sets
}

func check(ctx context.Context, target string, f checkFlags) *Report {
	start := time.Now()
	id, query, _ := strings.Cut(target, "?")
	rep := &Report{SecretID: id, Fetches: []Fetch{}}
	c := &checker{f: f, rep: rep, id: id}
	c.run(ctx, query)
	c.mu.Lock()
	defer c.mu.Unlock()
	if rep.EngineSource == "" {
		rep.Engine = ""
	}
	rep.Timings.Total = ms(time.Since(start))
	rep.OK = rep.ExitCode == exitOK
	rep.Class = classNames[rep.ExitCode]
	return rep
}

var classNames = map[int]string{
	exitOK: "ok", exitInternal: "internal", exitUsage: "usage", exitUnreadable: "unreadable",
	exitMalformed: "malformed", exitAuthFailed: "auth_failed", exitUnreachable: "unreachable",
}

func (c *checker) fail(code int, err error, hints ...string) {
	c.mu.Lock()
	c.rep.ExitCode = code
	if err != nil {
		c.rep.Error = err.Error()
	}
	c.mu.Unlock()
	c.hint(hints...)
}

func (c *checker) hint(hints ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rep.Hints = append(c.rep.Hints, hints...)
}

// sourceKind tells what gives the credentials of a DSN with id and keys q:
// a scheme's name (file, iam, dsql, vault, …), else Secrets Manager,
// through the agent or the GetSecretValue API. Secret names hold no ':'.
func sourceKind(id string, q url.Values) string {
	if scheme, _, ok := strings.Cut(id, ":"); ok && !strings.HasPrefix(id, "arn:") {
		return strings.ToLower(scheme)
	}
	if q.Get("source") == "agent" {
		return "agent"
	}
	return "secretsmanager"
}

// isSecretsManager reports whether kind reads a Secrets Manager secret
// (with staging labels, an ARN, AWSPENDING).
func isSecretsManager(kind string) bool { return kind == "secretsmanager" || kind == "agent" }

// isToken reports whether kind signs tokens rather than reading a secret.
func isToken(kind string) bool { return kind == "iam" || kind == "dsql" }

// isScheme reports whether kind is a DSN scheme that secretsql does not
// serve itself: one a package registers with credential.RegisterScheme
// (or nobody, when no imported package does).
func isScheme(kind string) bool {
	switch kind {
	case "secretsmanager", "agent", "file", "iam", "dsql":
		return false
	}
	return true
}

// schemePackages name the packages that serve the DSN schemes of
// secretsql's other modules, for the hint when this binary lacks one.
var schemePackages = map[string]string{
	"vault": "github.com/secretsql/secretsql/vault",
}

// unknownSchemeHints say how to get a DSN scheme that no package this
// binary imports registers.
func unknownSchemeHints(scheme string) []string {
	hints := []string{fmt.Sprintf("no package this secretsql binary imports registers the DSN scheme %q: it knows secretsql's own (a secret name or ARN, file:, iam://, dsql://) and those of the packages it imports", scheme+":")}
	if pkg, ok := schemePackages[scheme]; ok {
		return append(hints, fmt.Sprintf("%s: is served by package %s, a module of its own: a program imports it (import _ %q) to open such DSNs, and check needs the secretsql command built in that module, which imports it", scheme, pkg, pkg))
	}
	return append(hints, fmt.Sprintf("a scheme is registered (credential.RegisterScheme) when its package is imported: import the package that serves %s: (import _ \"…\") in the program's main package; for check, use a build of the secretsql command whose main package imports it and calls internal/cli's Main", scheme))
}

// schemeHint is the hint for a failure of the source of a registered DSN
// scheme, which secretsql knows nothing of but its errors.
func schemeHint(kind string) string {
	return fmt.Sprintf("the credentials come from the %s: source, served by the package that registered the scheme: its error says what failed; check its configuration (the DSN after %q and its keys, its environment), that it may read these credentials, and that what it reads is reachable from here", kind, kind+":")
}

// readFailure reports whether err is a failure to read the credentials
// that secretsql classified (as opposed to the database's).
func readFailure(err error) bool {
	for _, e := range []error{secretsql.ErrAccessDenied, secretsql.ErrDecryption, secretsql.ErrSecretNotFound,
		secretsql.ErrSecretDeleted, secretsql.ErrThrottled, secretsql.ErrSecretsManager, secretsql.ErrSourceFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// classified reports whether secretsql classified err with one of its
// sentinel errors.
func classified(err error) bool {
	for _, e := range []error{secretsql.ErrUnknownEngine, secretsql.ErrInvalidDSN, secretsql.ErrInvalidOption,
		secretsql.ErrMalformedSecret, secretsql.ErrMissingKey, secretsql.ErrEngineMismatch, secretsql.ErrAuthFailed, secretsql.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return readFailure(err)
}

// observe records the reads secretsql made and what its connects did.
func (c *checker) observe(ev secretsql.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rep := c.rep
	switch ev.Kind {
	case secretsql.EventFetch, secretsql.EventFetchFailed:
		f := Fetch{Source: ev.Source, Region: ev.Region, Stage: ev.Stage, VersionID: ev.VersionID, Ms: ms(ev.Duration)}
		if ev.Err != nil {
			f.Error = ev.Err.Error()
		} else {
			rep.Source = ev.Source
		}
		rep.Fetches = append(rep.Fetches, f)
	case secretsql.EventFailover:
		if n := len(rep.Fetches); n > 0 {
			rep.Fetches[n-1].Failover = true
		}
		rep.Hints = append(rep.Hints, fmt.Sprintf("the primary region could not be reached (%v): the failover region %s served the secret", ev.Err, ev.Region))
	case secretsql.EventPendingAdopted:
		rep.UsedPending = true
	}
}

// dsn is the DSN to open: the id and the keys, with stage set if not "".
func (c *checker) dsn(stage string) string {
	q := c.dsnQ
	if stage != "" {
		q = maps.Clone(q)
		q.Set("stage", stage)
	}
	if len(q) == 0 {
		return c.id
	}
	return c.id + "?" + q.Encode()
}

func (c *checker) run(ctx context.Context, query string) {
	rep := c.rep
	q, err := url.ParseQuery(query)
	if err != nil {
		c.fail(exitUsage, fmt.Errorf("the query after '?' is not URL query syntax (k=v&k2=v2): %w", err))
		return
	}
	params, err := url.ParseQuery(strings.TrimPrefix(c.f.params, "?"))
	if err != nil {
		c.fail(exitUsage, fmt.Errorf("--dsn-params is not URL query syntax (k=v&k2=v2): %w", err))
		return
	}
	maps.Copy(q, params)
	if c.f.region != "" {
		q.Set("region", c.f.region)
	}
	if c.f.endpoint != "" {
		q.Set("endpoint", c.f.endpoint)
	}
	c.dsnQ = q
	c.kind = sourceKind(c.id, q)
	rep.Source = c.kind
	c.awsCfg, err = awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		c.fail(exitUsage, fmt.Errorf("loading the AWS configuration: %w", err),
			"check AWS_PROFILE, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE")
		return
	}
	// Where the read will go, for the hints of a read that fails (a read
	// that succeeds tells it).
	switch {
	case c.kind == "secretsmanager":
		rep.Region, rep.Endpoint = c.region(), c.endpoint()
	case isToken(c.kind):
		rep.Region = cmp.Or(q.Get("region"), c.awsCfg.Region)
	}
	c.opts = []secretsql.Option{secretsql.WithAWSConfig(c.awsCfg), secretsql.WithObserver(c.observe)}

	switch {
	case isProbe(c.f.engine):
		c.fail(exitUsage, fmt.Errorf("%w: %q", secretsql.ErrUnknownEngine, c.f.engine), "engines: "+strings.Join(engineNames(), ", "))
		return
	case c.f.engine != "":
		rep.Engine, rep.EngineSource = c.f.engine, "flag"
	case c.kind == "dsql":
		rep.Engine, rep.EngineSource = "postgres", "dsn" // Aurora DSQL speaks PostgreSQL
	case c.kind == "iam":
		if rep.Engine = tokenEngine(c.id); rep.Engine == "" {
			c.fail(exitUsage, errors.New("the engine of an iam:// DSN cannot be told from its port"),
				"pass --engine postgres, mysql or mariadb")
			return
		}
		rep.EngineSource = "port"
	default:
		// The secret tells the engine: read it with the probe engine.
		probe, err := secretsql.NewConnector(probeName, c.dsn(""), c.opts...)
		if err != nil {
			c.classify(ctx, err)
			return
		}
		defer probe.Close()
		t := time.Now()
		res, err := probe.Resolve(ctx)
		rep.Timings.Resolve = ms(time.Since(t))
		c.fill(res)
		var se *secretsql.SecretError
		if err != nil && (!errors.As(err, &se) || !errors.Is(err, secretsql.ErrMissingKey) || se.Key == "") {
			// Unreadable or malformed whatever the engine: a missing
			// username, password or host can wait for it.
			c.classifyRead(ctx, err)
			return
		}
		if !c.inferEngine(res.SecretEngine) {
			return
		}
	}

	conn, err := secretsql.NewConnector(rep.Engine, c.dsn(""), c.opts...)
	if err != nil {
		c.classify(ctx, err)
		return
	}
	defer conn.Close()
	t := time.Now()
	res, err := conn.Resolve(ctx)
	rep.Timings.Resolve += ms(time.Since(t))
	c.fill(res)
	if err != nil {
		c.classifyRead(ctx, err)
		return
	}

	db := sql.OpenDB(conn)
	defer db.Close()
	t = time.Now()
	sc, err := db.Conn(ctx)
	rep.Timings.Connect = ms(time.Since(t))
	if err != nil {
		c.classify(ctx, err)
		return
	}
	defer sc.Close()
	t = time.Now()
	err = sc.PingContext(ctx)
	rep.Timings.Ping = ms(time.Since(t))
	if err != nil {
		c.classify(ctx, err)
		return
	}
	c.mu.Lock()
	usedPending := rep.UsedPending
	c.mu.Unlock()
	if usedPending {
		// The connect used AWSPENDING: report that version.
		if now, err := conn.Resolve(ctx); err == nil {
			c.fill(now)
		}
		c.hint("the database accepted AWSPENDING's credentials but not AWSCURRENT's: a rotation is between setSecret and finishSecret; secretsql uses AWSPENDING until AWSCURRENT moves. If this lasts, the rotation's finishSecret step is failing")
	}
}

// tokenEngine is the engine of an iam:// DSN, told by its port: the IAM
// engine whose default port it is (MySQL's for 3306, which MariaDB shares:
// both engines speak the same protocol); "" if none.
func tokenEngine(id string) string {
	u, err := url.Parse(id)
	if err != nil {
		return ""
	}
	port, _ := strconv.Atoi(u.Port())
	for _, name := range []string{"postgres", "mysql", "mariadb"} {
		if e, ok := engine.Lookup(name); ok {
			if p, _ := e.Defaults(); p == port {
				return name
			}
		}
	}
	return ""
}

// fill copies a resolved target into the report, password redacted.
func (c *checker) fill(r secretsql.Resolved) {
	rep := c.rep
	if r.VersionID != "" {
		rep.VersionID, rep.Stage = r.VersionID, r.Stage
		if isSecretsManager(c.kind) {
			rep.SecretARN = r.SecretARN
		}
	}
	if r.SecretEngine != "" {
		rep.SecretEngine = r.SecretEngine
	}
	if r.Region != "" {
		rep.Region = r.Region
	}
	if r.Endpoint != "" && !strings.Contains(r.Endpoint, "client:") {
		rep.Endpoint = r.Endpoint
	}
	cr := r.Credentials
	if cr.Username != "" || cr.Host != "" {
		rep.Host, rep.Port, rep.Database, rep.User = cr.Host, cr.Port, cr.Database, cr.Username
		rep.Password = ""
		if cr.Password() != "" {
			rep.Password = "[REDACTED]"
		}
	}
}

// inferEngine takes the engine from the secret's "engine" key se, as check
// does without --engine. It fails the check, and returns false, when the
// secret has no such key or secretsql has no engine for it.
func (c *checker) inferEngine(se string) bool {
	c.rep.SecretEngine = se
	e := engineFor(se)
	switch {
	case se == "" && isScheme(c.kind):
		c.fail(exitUsage, fmt.Errorf("the %s: source does not say which engine its credentials are for, so the engine cannot be inferred", c.kind),
			"pass --engine: one of "+strings.Join(engineNames(), ", "))
		return false
	case se == "":
		c.fail(exitUsage, errors.New("the secret has no \"engine\" key (an RDS-managed secret?), so the engine cannot be inferred"),
			"pass --engine: one of "+strings.Join(engineNames(), ", "))
		return false
	case e == "":
		c.fail(exitMalformed, fmt.Errorf("the secret's engine %q is not supported by secretsql", se),
			"supported engines: "+strings.Join(engineNames(), ", ")+" (Db2 is not supported)")
		return false
	}
	c.rep.Engine, c.rep.EngineSource = e, "secret"
	return true
}

// region is the region secretsql will use: the DSN key, the ARN's, or the
// SDK's default chain.
func (c *checker) region() string {
	if r := c.dsnQ.Get("region"); r != "" {
		return r
	}
	if a, err := arn.Parse(c.id); err == nil && a.Region != "" {
		return a.Region
	}
	return c.awsCfg.Region
}

// endpoint is the Secrets Manager endpoint secretsql will use: the DSN key,
// else the one the SDK's configuration sets (AWS_ENDPOINT_URL_SECRETS_MANAGER,
// …), "" for the default. The client is built to learn it and never called.
func (c *checker) endpoint() string {
	if ep := c.dsnQ.Get("endpoint"); ep != "" {
		return ep
	}
	return aws.ToString(secretsmanager.NewFromConfig(c.awsCfg).Options().BaseEndpoint)
}

// classifyRead sets the exit code and hints for err, returned by a read of
// the credentials (Resolve): an error that secretsql did not classify is
// the source's own, and so a failure to read, not the database's.
func (c *checker) classifyRead(ctx context.Context, err error) {
	if isScheme(c.kind) && !classified(err) {
		c.fail(exitUnreadable, err, schemeHint(c.kind))
		return
	}
	c.classify(ctx, err)
}

// classify sets the exit code and hints for err. The hints fit the source
// that gave (or failed to give) the credentials.
func (c *checker) classify(ctx context.Context, err error) {
	rep := c.rep
	var se *secretsql.SecretError
	switch {
	case errors.Is(err, secretsql.ErrUnknownEngine):
		c.fail(exitUsage, err, "engines: "+strings.Join(engineNames(), ", "))
	case errors.Is(err, secretsql.ErrInvalidDSN), errors.Is(err, secretsql.ErrInvalidOption):
		var hints []string
		var de *secretsql.DSNError
		_, _, registered := credential.Lookup(c.kind)
		switch {
		case isScheme(c.kind) && !registered:
			hints = unknownSchemeHints(c.kind)
		case isScheme(c.kind):
			hints = append(hints, fmt.Sprintf("the DSN scheme %s: is registered by an imported package: its documentation says what follows %q and which DSN keys it reads", c.kind, c.kind+":"))
		case errors.As(err, &de) && de.Key == "region":
			if isToken(c.kind) {
				hints = append(hints, "set AWS_REGION, pass --region, or use the RDS or DSQL endpoint's host name")
			} else {
				hints = append(hints, "set AWS_REGION, pass --region, or use the secret's full ARN")
			}
		}
		c.fail(exitUsage, err, hints...)

	case isScheme(c.kind) && readFailure(err):
		// Not Secrets Manager's hints: the scheme's source failed.
		c.fail(exitUnreadable, err, schemeHint(c.kind))

	case errors.Is(err, secretsql.ErrAccessDenied):
		switch c.kind {
		case "secretsmanager":
			c.fail(exitUnreadable, err, accessHints(c.resourceARN(), "the role or user running this")...)
		case "agent":
			c.fail(exitUnreadable, err, append([]string{"the agent reads Secrets Manager with its own AWS credentials and IAM role, not this process's"},
				accessHints(c.resourceARN(), "the agent's IAM role")...)...)
		case "file":
			c.fail(exitUnreadable, err, "this process may not read the file: check its mode and owner, and the mount's (the Secrets Store CSI driver's filePermission)")
		default:
			c.fail(exitUnreadable, err)
		}
	case errors.Is(err, secretsql.ErrDecryption):
		who := "the caller"
		if c.kind == "agent" {
			who = "the agent's IAM role"
		}
		c.fail(exitUnreadable, err,
			"grant kms:Decrypt on the secret's customer-managed KMS key to "+who+" (the key policy must allow it too)")
	case errors.Is(err, secretsql.ErrSecretNotFound):
		var hints []string
		switch c.kind {
		case "secretsmanager":
			hints = append(hints, fmt.Sprintf("looked in region %s%s", orNone(rep.Region), endpointNote(rep.Endpoint)))
			if !strings.HasPrefix(rep.SecretID, "arn:") {
				hints = append(hints, "if the secret lives in another region, pass --region REGION (or region=… in the DSN) or use its full ARN")
			}
		case "agent":
			hints = append(hints, "the agent reads in its own region (its configuration): use the secret's full ARN, or failover_region for a replica")
		case "file":
			hints = append(hints, "check the path, and that the volume holding the file is mounted (the Secrets Store CSI driver's SecretProviderClass and the pod's volumeMounts)")
		}
		if s := c.dsnQ.Get("stage"); s != "" {
			hints = append(hints, fmt.Sprintf("no version may carry the staging label %q", s))
		}
		c.fail(exitUnreadable, err, hints...)
	case errors.Is(err, secretsql.ErrSecretDeleted):
		c.fail(exitUnreadable, err, "the secret is scheduled for deletion: restore it with `aws secretsmanager restore-secret --secret-id "+rep.SecretID+"`")
	case errors.Is(err, secretsql.ErrThrottled):
		c.fail(exitUnreadable, err, "Secrets Manager throttled the call: retry later; applications using secretsql cache the secret and coalesce reads")
	case errors.Is(err, secretsql.ErrSecretsManager) && c.kind == "agent":
		c.fail(exitUnreadable, err, "the Secrets Manager Agent could not be reached or failed: check that it runs where the DSN key agent (or PARAMETERS_SECRETS_EXTENSION_HTTP_PORT) says, and that AWS_TOKEN holds its SSRF token; the agent reads Secrets Manager with its own AWS credentials")
	case errors.Is(err, secretsql.ErrSecretsManager):
		c.fail(exitUnreadable, err, fmt.Sprintf("Secrets Manager could not be reached or refused the AWS credentials (region %s%s): check the AWS credentials chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, the instance or task role) and network access to the endpoint",
			orNone(rep.Region), endpointNote(rep.Endpoint)))
	case errors.Is(err, secretsql.ErrSourceFailed) && isToken(c.kind):
		c.fail(exitUnreadable, err, fmt.Sprintf("no token could be signed (region %s): the AWS credentials of this process (AWS_PROFILE, AWS_ACCESS_KEY_ID, the instance, task or pod role) could not be retrieved", orNone(rep.Region)))
	case errors.Is(err, secretsql.ErrSourceFailed):
		c.fail(exitUnreadable, err, "the credential source "+c.kind+" failed: see the error")

	case errors.As(err, &se) && errors.Is(err, secretsql.ErrMissingKey):
		var hints []string
		switch se.Key {
		case "host", "username", "password":
			if isScheme(c.kind) {
				hints = append(hints, fmt.Sprintf("the %s: source handed out credentials without a %s", c.kind, se.Key))
				if se.Key == "host" {
					hints = append(hints, "add the database's address to the DSN: --dsn-params 'host=…&port=…&dbname=…' (DSN keys host, port, dbname)")
				}
				break
			}
			if se.Key != "host" {
				hints = append(hints, fmt.Sprintf("the secret must hold a non-empty %q: store the database secret structure {\"engine\",\"host\",\"port\",\"username\",\"password\",\"dbname\"}", se.Key))
				break
			}
			hints = append(hints, "this looks like an RDS-managed secret (it holds only username and password): add the endpoint to the DSN, e.g. --dsn-params 'host=mydb.abc123.eu-west-1.rds.amazonaws.com&port=5432&dbname=app' (DSN keys host, port, dbname)")
		}
		c.fail(exitMalformed, err, hints...)
	case errors.Is(err, secretsql.ErrEngineMismatch):
		hint := fmt.Sprintf("the secret is for engine %q", rep.SecretEngine)
		if isScheme(c.kind) {
			hint = fmt.Sprintf("the %s: source's credentials are for engine %q", c.kind, rep.SecretEngine)
		}
		if e := engineFor(rep.SecretEngine); e != "" {
			hint += fmt.Sprintf(": use --engine %s (driver %s%s)", e, engine.DriverPrefix, e)
		}
		c.fail(exitMalformed, err, hint)
	case isScheme(c.kind) && (errors.Is(err, secretsql.ErrMalformedSecret) || errors.Is(err, secretsql.ErrMissingKey)):
		c.fail(exitMalformed, err, fmt.Sprintf("the %s: source handed out credentials that secretsql cannot use: see the error, and the source's configuration", c.kind))
	case errors.Is(err, secretsql.ErrMalformedSecret), errors.Is(err, secretsql.ErrMissingKey):
		c.fail(exitMalformed, err, `store the database secret structure as JSON: {"engine":…,"host":…,"port":…,"username":…,"password":…,"dbname":…}`)

	case errors.Is(err, secretsql.ErrAuthFailed):
		c.fail(exitAuthFailed, err, c.authHints(ctx)...)
	case errors.Is(err, secretsql.ErrClosed):
		c.fail(exitInternal, err)
	case ctx.Err() != nil:
		c.fail(exitUnreachable, err, fmt.Sprintf("the check ran out of time (--timeout %s): is %s reachable from here (security groups, VPC, firewall)?", c.f.timeout, hostPort(rep)))
	default:
		c.fail(exitUnreachable, err, fmt.Sprintf("the database at %s could not be used: check that it is reachable from here (security groups, VPC, firewall), the TLS parameters, and the database name", hostPort(rep)))
	}
}

func hostPort(rep *Report) string {
	if rep.Host == "" {
		return "the database"
	}
	return fmt.Sprintf("%s:%d", rep.Host, rep.Port)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func endpointNote(ep string) string {
	if ep == "" {
		return ""
	}
	return ", endpoint " + ep
}

// fullARN matches a secret ARN with its random six-character suffix.
var fullARN = regexp.MustCompile(`:secret:.+-[A-Za-z0-9]{6}$`)

// resourceARN is the ARN to grant access to: the secret's, or a pattern.
func (c *checker) resourceARN() string {
	if c.rep.SecretARN != "" {
		return c.rep.SecretARN
	}
	if strings.HasPrefix(c.rep.SecretID, "arn:") {
		if fullARN.MatchString(c.rep.SecretID) {
			return c.rep.SecretID
		}
		return c.rep.SecretID + "-??????" // a partial ARN
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:ACCOUNT_ID:secret:%s-??????", cmp.Or(c.rep.Region, "REGION"), c.rep.SecretID)
}

// accessHints say what to grant whom to read resource.
func accessHints(resource, whom string) []string {
	return []string{
		"grant the IAM action secretsmanager:GetSecretValue on " + resource + " to " + whom + " (the only action secretsql needs)",
		`policy statement: {"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"` + resource + `"}`,
		"if the secret is encrypted with a customer-managed KMS key, also grant kms:Decrypt on that key",
		"a resource policy on the secret, or an SCP, may deny it too",
	}
}

// authHints say why the database may have rejected the credentials of the
// source.
func (c *checker) authHints(ctx context.Context) []string {
	switch {
	case isSecretsManager(c.kind):
		return c.rotationHints(ctx)
	case c.kind == "file":
		return []string{"the database rejected the credentials in the file, which holds one version (nothing to fall back on): " +
			"if the password was changed by a rotation, the file has not caught up yet (the Secrets Store CSI driver syncs it every rotationPollInterval); " +
			"else set the database password to the file's, or put the working one in the file"}
	case isToken(c.kind):
		return []string{"a token was signed here with this process's AWS credentials, and the database refused it: the error says what IAM database authentication needs"}
	}
	return []string{fmt.Sprintf("the database rejected the credentials that the %s: source handed out, and the source had none newer when secretsql asked again after the rejection: check the user and password it hands out (its configuration, or the database role it creates) against the database", c.kind)}
}

// rotationHints read AWSPENDING and AWSCURRENT, through secretsql, to tell
// a rotation in progress from a wrong password. AWSCURRENT comes from the
// cache (the check read it already); AWSPENDING is one more read.
func (c *checker) rotationHints(ctx context.Context) []string {
	rep := c.rep
	rot := &Rotation{CurrentVersionID: rep.VersionID}
	rep.Rotation = rot
	cur, curErr := c.readStage(ctx, secretsql.StageCurrent)
	pend, err := c.readStage(ctx, secretsql.StagePending)
	switch {
	case errors.Is(err, secretsql.ErrSecretNotFound):
		return []string{
			"no AWSPENDING version: no rotation is in progress, so the database does not accept the password stored in AWSCURRENT",
			"was the password changed outside Secrets Manager, or did a rotation fail after setSecret? Set the database password to the secret's, or put the working password in the secret",
		}
	case pend.VersionID == "":
		rot.LookupError = err.Error()
		return []string{"the database rejected the credentials; reading AWSPENDING to look for a rotation in progress failed: " + err.Error()}
	}
	rot.PendingExists = true
	rot.PendingVersionID = pend.VersionID
	if cur.VersionID != "" {
		rot.CurrentVersionID = cur.VersionID
	}
	if rot.PendingVersionID == rot.CurrentVersionID {
		return []string{"AWSPENDING is on the AWSCURRENT version (a finished rotation left it there): no rotation is in progress, so the database does not accept the password stored in AWSCURRENT"}
	}
	rot.InProgress = true
	compared := curErr == nil && err == nil
	if compared {
		rot.PasswordDiffers = cur.Credentials.Password() != pend.Credentials.Password()
		rot.PendingUserDiffers = cur.Credentials.Username != pend.Credentials.Username
	}
	hints := []string{fmt.Sprintf("a rotation is in progress: AWSPENDING (version %s) differs from AWSCURRENT (version %s)", rot.PendingVersionID, rot.CurrentVersionID)}
	switch {
	case err != nil:
		hints = append(hints, "AWSPENDING's value cannot be used: "+err.Error())
	case rot.PasswordDiffers:
		hints = append(hints, "AWSPENDING holds another password, and secretsql tried it too: the database rejected both, so the rotation's setSecret step has not changed the database (yet), or the password was changed to something else")
	case compared:
		hints = append(hints, "AWSPENDING holds the same password as AWSCURRENT: the database password differs from both")
	}
	hints = append(hints, "check the rotation function's logs (CloudWatch) for the step that failed; a stuck AWSPENDING version blocks the next rotation")
	return hints
}

// readStage reads the version of the secret that carries stage, through
// secretsql (a Connector of the probe engine: shared cache, no login).
func (c *checker) readStage(ctx context.Context, stage string) (secretsql.Resolved, error) {
	p, err := secretsql.NewConnector(probeName, c.dsn(stage), c.opts...)
	if err != nil {
		return secretsql.Resolved{}, err
	}
	defer p.Close()
	return p.Resolve(ctx)
}

// engineNames lists the registered engines, but check's probe.
func engineNames() []string {
	var names []string
	for _, e := range engine.All() {
		if !isProbe(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names
}

// preferredEngine names the engine for the secret "engine" values that
// several engines accept (mysql and mariadb accept the same ones) and that
// name none of them: Aurora MySQL's.
var preferredEngine = map[string]string{"aurora": "mysql", "aurora-mysql": "mysql"}

// engineFor maps a secret's "engine" value to the registered engine that
// accepts it: the engine of that name, else the one preferredEngine names,
// else the only one, or the first by name, that accepts it; "" if none does.
func engineFor(secretEngine string) string {
	if secretEngine == "" {
		return ""
	}
	var accepting []string
	for _, e := range engine.All() {
		if !isProbe(e.Name()) && e.AcceptsSecretEngine(secretEngine) {
			accepting = append(accepting, e.Name())
		}
	}
	for _, name := range []string{secretEngine, preferredEngine[secretEngine]} {
		if slices.Contains(accepting, name) {
			return name
		}
	}
	if len(accepting) == 0 {
		return ""
	}
	return accepting[0]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// sourceNames say what gave the credentials.
var sourceNames = map[string]string{
	"secretsmanager": "GetSecretValue",
	"agent":          "Secrets Manager Agent",
	"file":           "file",
	"iam":            "RDS IAM authentication token signed here with this process's AWS credentials",
	"dsql":           "Aurora DSQL token signed here with this process's AWS credentials",
}

// readNames name one read of each source.
var readNames = map[string]string{
	"secretsmanager": "GetSecretValue",
	"agent":          "Secrets Manager Agent",
	"file":           "file read",
	"iam":            "IAM token signed",
	"dsql":           "DSQL token signed",
}

// nameOf is names[kind], else kind (a DSN scheme's source).
func nameOf(names map[string]string, kind string) string {
	if n, ok := names[kind]; ok {
		return n
	}
	return kind
}

// printReport prints the report as text.
func printReport(w io.Writer, r *Report) {
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-10s %s\n", k, v)
		}
	}
	fmt.Fprintf(w, "secret %s\n", r.SecretID)
	line("source", nameOf(sourceNames, r.Source))
	line("arn", r.SecretARN)
	if r.VersionID != "" && !isToken(r.Source) {
		v := r.VersionID
		if r.Stage != "" {
			v += " (" + r.Stage + ")"
		}
		line("version", v)
	}
	line("region", r.Region)
	switch {
	case r.Source == "secretsmanager" && r.Endpoint == "":
		line("endpoint", "(AWS default)")
	case r.Source == "secretsmanager" || r.Source == "agent":
		line("endpoint", r.Endpoint)
	}
	if r.Engine != "" && r.EngineSource != "" {
		e := r.Engine
		switch {
		case r.EngineSource == "secret":
			e += fmt.Sprintf(" (from the secret's engine %q)", r.SecretEngine)
		case r.EngineSource == "port":
			e += fmt.Sprintf(" (from the port %d; --engine chooses another)", r.Port)
		case r.EngineSource == "dsn":
			e += " (Aurora DSQL speaks PostgreSQL)"
		case r.SecretEngine != "":
			e += fmt.Sprintf(" (secret engine %q)", r.SecretEngine)
		}
		line("engine", e)
	}
	line("host", r.Host)
	if r.Port != 0 {
		line("port", fmt.Sprint(r.Port))
	}
	line("database", r.Database)
	line("user", r.User)
	line("password", r.Password)
	for _, f := range r.Fetches {
		s := nameOf(readNames, f.Source)
		if f.Stage != "" {
			s += " " + f.Stage
		}
		s += fmt.Sprintf(": %.1fms", f.Ms)
		if f.VersionID != "" && !isToken(f.Source) {
			s += " version " + f.VersionID
		}
		if f.Failover {
			s += " from the failover region " + f.Region
		}
		if f.Error != "" {
			s += " FAILED"
		}
		line("fetch", s)
	}
	if r.Timings.Resolve > 0 {
		line("resolve", fmt.Sprintf("%.1fms", r.Timings.Resolve))
	}
	if r.Timings.Connect > 0 {
		line("connect", fmt.Sprintf("%.1fms", r.Timings.Connect))
	}
	if r.Timings.Ping > 0 {
		line("ping", fmt.Sprintf("%.1fms", r.Timings.Ping))
	}
	if r.UsedPending {
		line("used", "AWSPENDING credentials")
	}
	if r.OK {
		fmt.Fprintf(w, "OK: connected to %s at %s:%d as %s in %.1fms\n", r.Engine, r.Host, r.Port, r.User, r.Timings.Total)
	} else {
		fmt.Fprintf(w, "FAILED (%s, exit code %d): %s\n", r.Class, r.ExitCode, r.Error)
	}
	for _, h := range r.Hints {
		fmt.Fprintf(w, "  hint: %s\n", h)
	}
}
