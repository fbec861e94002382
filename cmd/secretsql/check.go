package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/engine"
)

// Report is what check found, as printed by --json. Its field names are
// stable. It never holds the password: Password is "[REDACTED]" when the
// secret has one.
type Report struct {
	OK       bool   `json:"ok"`
	ExitCode int    `json:"exit_code"`
	Class    string `json:"class"` // ok, usage, unreadable, malformed, auth_failed, unreachable, internal

	SecretID  string   `json:"secret_id"`
	Source    string   `json:"source,omitempty"` // what served the secret: secretsmanager, agent or file
	SecretARN string   `json:"secret_arn,omitempty"`
	VersionID string   `json:"version_id,omitempty"`
	Stage     string   `json:"stage,omitempty"`          // the staging label the version was read by
	Stages    []string `json:"version_stages,omitempty"` // every label on that version
	Region    string   `json:"region,omitempty"`
	Endpoint  string   `json:"endpoint,omitempty"` // "" for the SDK's default endpoint

	Engine       string `json:"engine,omitempty"`
	EngineSource string `json:"engine_source,omitempty"` // "flag" or "secret"
	SecretEngine string `json:"secret_engine,omitempty"` // the secret's "engine" key
	Host         string `json:"host,omitempty"`
	Port         int    `json:"port,omitempty"`
	Database     string `json:"database,omitempty"`
	User         string `json:"user,omitempty"`
	Password     string `json:"password,omitempty"`

	// Fetches are the GetSecretValue calls secretsql made (not counting
	// check's own diagnostic reads).
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

// Fetch is one read of the secret made by secretsql (a GetSecretValue
// call, a request to the agent, or a read of the file).
type Fetch struct {
	Source    string  `json:"source"`
	Region    string  `json:"region,omitempty"` // the region that served, when the read went to one
	Stage     string  `json:"stage"`
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
		fmt.Fprintln(stderr, "usage: secretsql check <secret-id> [flags]\n\nReads the secret, checks it and connects once. Flags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&f.engine, "engine", "", "secretsql engine: "+strings.Join(engineNames(), ", ")+" (default: from the secret's \"engine\" key)")
	fs.StringVar(&f.params, "dsn-params", "", "DSN query, as after '?' in the DSN: `k=v&…` (host, port, dbname, stage, region, endpoint, driver parameters)")
	fs.StringVar(&f.region, "region", "", "AWS region (the DSN key region)")
	fs.StringVar(&f.endpoint, "endpoint", "", "Secrets Manager endpoint URL (the DSN key endpoint)")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of text")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "bound for the whole check")
	pos, code, ok := parseArgs(fs, args, 1, "need exactly one secret id (name or ARN)", stderr)
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
	dsnQ   url.Values
	sm     *secretsmanager.Client // check's own diagnostic reads
}

func check(ctx context.Context, secretID string, f checkFlags) *Report {
	start := time.Now()
	rep := &Report{SecretID: secretID, Fetches: []Fetch{}}
	c := &checker{f: f, rep: rep}
	c.run(ctx)
	if rep.EngineSource == "" {
		rep.Engine = "" // a placeholder, used only to classify a failed read
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
	c.rep.ExitCode = code
	if err != nil {
		c.rep.Error = err.Error()
	}
	c.rep.Hints = append(c.rep.Hints, hints...)
}

func (c *checker) run(ctx context.Context) {
	rep := c.rep
	q, err := url.ParseQuery(strings.TrimPrefix(c.f.params, "?"))
	if err != nil {
		c.fail(exitUsage, fmt.Errorf("--dsn-params is not URL query syntax (k=v&k2=v2): %w", err))
		return
	}
	if c.f.region != "" {
		q.Set("region", c.f.region)
	}
	if c.f.endpoint != "" {
		q.Set("endpoint", c.f.endpoint)
	}
	c.dsnQ = q
	c.awsCfg, err = awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		c.fail(exitUsage, fmt.Errorf("loading the AWS configuration: %w", err),
			"check AWS_PROFILE, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE")
		return
	}
	rep.Region = c.region()
	rep.Endpoint = q.Get("endpoint")
	c.sm = secretsmanager.NewFromConfig(c.awsCfg, func(o *secretsmanager.Options) {
		if rep.Region != "" {
			o.Region = rep.Region
		}
		if rep.Endpoint != "" {
			o.BaseEndpoint = aws.String(rep.Endpoint)
		}
	})
	if rep.Endpoint == "" {
		rep.Endpoint = aws.ToString(c.sm.Options().BaseEndpoint)
	}

	stage := q.Get("stage")
	if stage == "" {
		stage = secretsql.StageCurrent
	}
	// check's own read: the version's labels, and the engine when not given
	// (the API only: the agent and a file are read by secretsql alone).
	apiSource := !strings.HasPrefix(rep.SecretID, "file:") && q.Get("source") != "agent"
	var raw *secretsmanager.GetSecretValueOutput
	if rep.Region != "" && apiSource {
		raw, _ = c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
			SecretId: aws.String(rep.SecretID), VersionStage: aws.String(stage)})
	}
	rep.Engine, rep.EngineSource = c.f.engine, "flag"
	if rep.Engine == "" {
		se, isJSON := "", false
		if raw != nil {
			se, isJSON = secretEngine(raw)
		}
		switch {
		case !isJSON:
			// check could not read the secret, or it is not JSON: secretsql
			// reads it with a placeholder engine, and then either fails
			// (the engine does not matter for that) or tells its engine.
			rep.Engine, rep.EngineSource = "postgres", ""
		case !c.inferEngine(se):
			return
		}
	}

	var mu sync.Mutex
	observer := func(ev secretsql.Event) {
		mu.Lock()
		defer mu.Unlock()
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
	dsn := rep.SecretID
	if len(q) > 0 {
		dsn += "?" + q.Encode()
	}
	open := func() (*secretsql.Connector, error) {
		return secretsql.NewConnector(rep.Engine, dsn, secretsql.WithAWSConfig(c.awsCfg), secretsql.WithObserver(observer))
	}
	conn, err := open()
	if err != nil {
		c.classify(ctx, err)
		return
	}
	defer conn.Close()

	t := time.Now()
	res, err := conn.Resolve(ctx)
	if rep.EngineSource == "" && (err == nil || errors.Is(err, secretsql.ErrEngineMismatch)) {
		// secretsql read the secret: its engine is the one to use.
		placeholder := rep.Engine
		c.fill(res)
		if !c.inferEngine(res.SecretEngine) {
			return
		}
		if rep.Engine != placeholder {
			conn.Close()
			if conn, err = open(); err != nil {
				c.classify(ctx, err)
				return
			}
			defer conn.Close()
			res, err = conn.Resolve(ctx)
		}
	}
	rep.Timings.Resolve = ms(time.Since(t))
	c.fill(res)
	if raw != nil && aws.ToString(raw.VersionId) == rep.VersionID {
		rep.Stages = raw.VersionStages
	}
	if err != nil {
		c.classify(ctx, err)
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
	if rep.UsedPending {
		// The connect used AWSPENDING: report that version.
		if now, err := conn.Resolve(ctx); err == nil {
			c.fill(now)
		}
		rep.Stages = nil
		rep.Hints = append(rep.Hints, "the database accepted AWSPENDING's credentials but not AWSCURRENT's: a rotation is between setSecret and finishSecret; secretsql uses AWSPENDING until AWSCURRENT moves. If this lasts, the rotation's finishSecret step is failing")
	}
}

// fill copies a resolved target into the report, password redacted.
func (c *checker) fill(r secretsql.Resolved) {
	rep := c.rep
	if r.SecretARN != "" {
		rep.SecretARN, rep.VersionID, rep.Stage = r.SecretARN, r.VersionID, r.Stage
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
	if a, err := arn.Parse(c.rep.SecretID); err == nil && a.Region != "" {
		return a.Region
	}
	return c.awsCfg.Region
}

// classify sets the exit code and hints for err.
func (c *checker) classify(ctx context.Context, err error) {
	rep := c.rep
	var se *secretsql.SecretError
	switch {
	case errors.Is(err, secretsql.ErrUnknownEngine):
		c.fail(exitUsage, err, "engines: "+strings.Join(engineNames(), ", "))
	case errors.Is(err, secretsql.ErrInvalidDSN), errors.Is(err, secretsql.ErrInvalidOption):
		var hints []string
		var de *secretsql.DSNError
		if errors.As(err, &de) && de.Key == "region" {
			hints = append(hints, "set AWS_REGION, pass --region, or use the secret's full ARN")
		}
		c.fail(exitUsage, err, hints...)

	case errors.Is(err, secretsql.ErrAccessDenied):
		c.fail(exitUnreadable, err, accessHints(c.resourceARN())...)
	case errors.Is(err, secretsql.ErrDecryption):
		c.fail(exitUnreadable, err,
			"grant kms:Decrypt on the secret's customer-managed KMS key to the caller (the key policy must allow it too)")
	case errors.Is(err, secretsql.ErrSecretNotFound):
		hints := []string{fmt.Sprintf("looked in region %s%s", orNone(rep.Region), endpointNote(rep.Endpoint))}
		if !strings.HasPrefix(rep.SecretID, "arn:") {
			hints = append(hints, "if the secret lives in another region, pass --region REGION (or region=… in the DSN) or use its full ARN")
		}
		if s := c.dsnQ.Get("stage"); s != "" {
			hints = append(hints, fmt.Sprintf("no version may carry the staging label %q", s))
		}
		c.fail(exitUnreadable, err, hints...)
	case errors.Is(err, secretsql.ErrSecretDeleted):
		c.fail(exitUnreadable, err, "the secret is scheduled for deletion: restore it with `aws secretsmanager restore-secret --secret-id "+rep.SecretID+"`")
	case errors.Is(err, secretsql.ErrThrottled):
		c.fail(exitUnreadable, err, "Secrets Manager throttled the call: retry later; applications using secretsql cache the secret and coalesce reads")
	case errors.Is(err, secretsql.ErrSecretsManager):
		c.fail(exitUnreadable, err, fmt.Sprintf("Secrets Manager could not be reached or refused the AWS credentials (region %s%s): check the AWS credentials chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, the instance or task role) and network access to the endpoint",
			orNone(rep.Region), endpointNote(rep.Endpoint)))

	case errors.As(err, &se) && errors.Is(err, secretsql.ErrMissingKey):
		var hints []string
		switch se.Key {
		case "host":
			hints = append(hints, "this looks like an RDS-managed secret (it holds only username and password): add the endpoint to the DSN, e.g. --dsn-params 'host=mydb.abc123.eu-west-1.rds.amazonaws.com&port=5432&dbname=app' (DSN keys host, port, dbname)")
		case "username", "password":
			hints = append(hints, fmt.Sprintf("the secret must hold a non-empty %q: store the database secret structure {\"engine\",\"host\",\"port\",\"username\",\"password\",\"dbname\"}", se.Key))
		}
		c.fail(exitMalformed, err, hints...)
	case errors.Is(err, secretsql.ErrEngineMismatch):
		hint := fmt.Sprintf("the secret is for engine %q", rep.SecretEngine)
		if e := engineFor(rep.SecretEngine); e != "" {
			hint += fmt.Sprintf(": use --engine %s (driver %s%s)", e, engine.DriverPrefix, e)
		}
		c.fail(exitMalformed, err, hint)
	case errors.Is(err, secretsql.ErrMalformedSecret), errors.Is(err, secretsql.ErrMissingKey):
		c.fail(exitMalformed, err, `store the database secret structure as JSON: {"engine":…,"host":…,"port":…,"username":…,"password":…,"dbname":…}`)

	case errors.Is(err, secretsql.ErrAuthFailed):
		c.fail(exitAuthFailed, err, c.rotationHints(ctx)...)
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
	return fmt.Sprintf("arn:aws:secretsmanager:%s:ACCOUNT_ID:secret:%s-??????", orNone(c.rep.Region), c.rep.SecretID)
}

func accessHints(resource string) []string {
	return []string{
		"grant the IAM action secretsmanager:GetSecretValue on " + resource + " to the role or user running this (the only action secretsql needs)",
		`policy statement: {"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"` + resource + `"}`,
		"if the secret is encrypted with a customer-managed KMS key, also grant kms:Decrypt on that key",
		"a resource policy on the secret, or an SCP, may deny it too",
	}
}

// rotationHints reads AWSPENDING to tell a rotation in progress from a wrong
// password.
func (c *checker) rotationHints(ctx context.Context) []string {
	rep := c.rep
	rot := &Rotation{CurrentVersionID: rep.VersionID}
	rep.Rotation = rot
	cur, curErr := c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(rep.SecretID), VersionStage: aws.String(secretsql.StageCurrent)})
	pend, err := c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(rep.SecretID), VersionStage: aws.String(secretsql.StagePending)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return []string{
			"no AWSPENDING version: no rotation is in progress, so the database does not accept the password stored in AWSCURRENT",
			"was the password changed outside Secrets Manager, or did a rotation fail after setSecret? Set the database password to the secret's, or put the working password in the secret",
		}
	case err != nil:
		rot.LookupError = err.Error()
		return []string{"the database rejected the credentials; reading AWSPENDING to look for a rotation in progress failed: " + err.Error()}
	}
	rot.PendingExists = true
	rot.PendingVersionID = aws.ToString(pend.VersionId)
	if curErr == nil {
		rot.CurrentVersionID = aws.ToString(cur.VersionId)
	}
	if rot.PendingVersionID == rot.CurrentVersionID {
		return []string{"AWSPENDING is on the AWSCURRENT version (a finished rotation left it there): no rotation is in progress, so the database does not accept the password stored in AWSCURRENT"}
	}
	rot.InProgress = true
	if curErr == nil {
		cu, cp := userPassword(cur)
		pu, pp := userPassword(pend)
		rot.PasswordDiffers = cp != pp
		rot.PendingUserDiffers = cu != pu
	}
	hints := []string{fmt.Sprintf("a rotation is in progress: AWSPENDING (version %s) differs from AWSCURRENT (version %s)", rot.PendingVersionID, rot.CurrentVersionID)}
	if rot.PasswordDiffers {
		hints = append(hints, "AWSPENDING holds another password, and secretsql tried it too: the database rejected both, so the rotation's setSecret step has not changed the database (yet), or the password was changed to something else")
	} else if curErr == nil {
		hints = append(hints, "AWSPENDING holds the same password as AWSCURRENT: the database password differs from both")
	}
	hints = append(hints, "check the rotation function's logs (CloudWatch) for the step that failed; a stuck AWSPENDING version blocks the next rotation")
	return hints
}

// userPassword extracts username and password from a secret value, for
// comparison only.
func userPassword(out *secretsmanager.GetSecretValueOutput) (string, string) {
	var v struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	_ = json.Unmarshal(secretBytes(out), &v)
	return v.Username, v.Password
}

func secretBytes(out *secretsmanager.GetSecretValueOutput) []byte {
	if out.SecretString != nil {
		return []byte(*out.SecretString)
	}
	return out.SecretBinary
}

// secretEngine returns the secret's "engine" key, lower-cased, and whether
// the secret is a JSON object at all.
func secretEngine(out *secretsmanager.GetSecretValueOutput) (string, bool) {
	var v struct {
		Engine any `json:"engine"`
	}
	if json.Unmarshal(secretBytes(out), &v) != nil {
		return "", false
	}
	s, _ := v.Engine.(string)
	return strings.ToLower(strings.TrimSpace(s)), true
}

// engineNames lists the registered engines.
func engineNames() []string {
	var names []string
	for _, e := range engine.All() {
		names = append(names, e.Name())
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
		if e.AcceptsSecretEngine(secretEngine) {
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

// sourceNames say what served the secret.
var sourceNames = map[string]string{
	"secretsmanager": "GetSecretValue",
	"agent":          "Secrets Manager Agent",
	"file":           "file",
}

// printReport prints the report as text.
func printReport(w io.Writer, r *Report) {
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-10s %s\n", k, v)
		}
	}
	fmt.Fprintf(w, "secret %s\n", r.SecretID)
	line("source", sourceNames[r.Source])
	line("arn", r.SecretARN)
	if r.VersionID != "" {
		st := r.Stage
		if len(r.Stages) > 0 {
			st = strings.Join(r.Stages, ", ")
		}
		line("version", fmt.Sprintf("%s (%s)", r.VersionID, st))
	}
	line("region", r.Region)
	ep := r.Endpoint
	if ep == "" {
		ep = "(AWS default)"
	}
	line("endpoint", ep)
	if r.Engine != "" && r.EngineSource != "" {
		e := r.Engine
		switch {
		case r.EngineSource == "secret":
			e += fmt.Sprintf(" (from the secret's engine %q)", r.SecretEngine)
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
		s := fmt.Sprintf("%s %s: %.1fms", sourceNames[f.Source], f.Stage, f.Ms)
		if f.VersionID != "" {
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
