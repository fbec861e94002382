package reliability

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// matrixCase is one bad input. The secret (when secret or binary is set) is
// created under a fresh name; dsn's "NAME" and "ARN" are replaced by that
// secret's name and ARN. The error is expected from NewConnector when
// atOpen is set, else from the first PingContext.
type matrixCase struct {
	name   string
	engine string // default "postgres"
	dsn    string // default "NAME"
	secret string
	binary []byte
	opts   []secretsql.Option
	setup  func(t *testing.T, srv *smtest.Server, name string) // after the secret exists
	atOpen bool
	want   error    // the sentinel
	typed  any      // pointer to the typed error expected with errors.As
	hints  []string // substrings of the message that say what to fix
}

// okSecret is a well-formed postgres secret on a host where nothing is ever
// reached (the cases fail before connecting).
const okSecret = `{"engine":"postgres","host":"127.0.0.1","port":1,"username":"app","password":"PassWordValue1","dbname":"app"}`

func matrixCases() []matrixCase {
	var (
		dsnErr    *secretsql.DSNError
		secretErr *secretsql.SecretError
		fetchErr  *secretsql.FetchError
		authErr   *secretsql.AuthError
	)
	const arnPrefix = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
	big := strings.Repeat("x", 64*1024-200)
	return []matrixCase{
		// DSNs: rejected by NewConnector, before any call.
		{name: "dsn/empty", dsn: "", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"no secret id"}},
		{name: "dsn/blank", dsn: "   ", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"no secret id"}},
		{name: "dsn/query only", dsn: "?region=us-east-1", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"secret ARN, partial ARN or name"}},
		{name: "dsn/arn of another service", dsn: "arn:aws:s3:::bucket", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME"}},
		{name: "dsn/arn without region", dsn: "arn:aws:secretsmanager::123456789012:secret:x", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"not a Secrets Manager secret ARN"}},
		{name: "dsn/arn of a parameter", dsn: "arn:aws:secretsmanager:us-east-1:123456789012:parameter/x", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr},
		{name: "dsn/arn without name", dsn: arnPrefix, atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr},
		{name: "dsn/name with space", dsn: "prod db", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"letters, digits and /_+=.@-! only"}},
		{name: "dsn/name too long", dsn: strings.Repeat("n", 3000), atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"too long"}},
		{name: "dsn/bad query syntax", dsn: "NAME?sslmode=%zz", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"URL query"}},
		{name: "dsn/upper-case key", dsn: "NAME?Region=us-east-1", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{`use "region"`}},
		{name: "dsn/bad region", dsn: "NAME?region=US_EAST_1", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"like us-east-1"}},
		{name: "dsn/region twice", dsn: "NAME?region=us-east-1&region=us-west-2", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"more than once"}},
		{name: "dsn/region conflicts with arn", dsn: arnPrefix + "x-AbCdEf?region=eu-west-1", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"conflicts", "replica"}},
		{name: "dsn/empty value", dsn: "NAME?port=", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"empty value"}},
		{name: "dsn/port zero", dsn: "NAME?port=0", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"1-65535"}},
		{name: "dsn/port not a number", dsn: "NAME?port=pg", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"1-65535"}},
		{name: "dsn/port too big", dsn: "NAME?port=65536", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"1-65535"}},
		{name: "dsn/ttl without unit", dsn: "NAME?ttl=30", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"like 30m"}},
		{name: "dsn/ttl below 1s", dsn: "NAME?ttl=100ms", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"at least 1s"}},
		{name: "dsn/stage with space", dsn: "NAME?stage=AWS%20CURRENT", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"staging label"}},
		{name: "dsn/endpoint not http", dsn: "NAME?endpoint=ftp://127.0.0.1", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"http(s) URL"}},
		{name: "dsn/host with slash", dsn: "NAME?host=a/b", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"host name or IP address"}},
		{name: "dsn/postgres user key", dsn: "NAME?user=admin", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"user name comes from the secret"}},
		{name: "dsn/postgres password key", dsn: "NAME?password=x", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"password comes from the secret"}},
		{name: "dsn/postgres bad sslmode", dsn: "NAME?sslmode=sometimes", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"sslmode"}},
		{name: "dsn/postgres bad key name", dsn: "NAME?bad-key=1", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"bad-key", "not a PostgreSQL connection parameter"}},
		{name: "dsn/mysql passwd key", engine: "mysql", dsn: "NAME?passwd=x", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"password comes from the secret"}},
		{name: "dsn/mysql net key", engine: "mariadb", dsn: "NAME?net=unix", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"tcp"}},
		{name: "dsn/mysql bad parseTime", engine: "mysql", dsn: "NAME?parseTime=maybe", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"go-sql-driver/mysql"}},
		{name: "dsn/sqlserver unknown key", engine: "sqlserver", dsn: "NAME?colour=blue", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"colour"}},
		{name: "dsn/sqlserver user id key", engine: "sqlserver", dsn: "NAME?user+id=sa", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"user id"}},
		{name: "dsn/oracle password key", engine: "oracle", dsn: "NAME?password=x", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"credentials come only from the secret"}},
		{name: "dsn/oracle unknown key", engine: "oracle", dsn: "NAME?colour=blue", atOpen: true, want: secretsql.ErrInvalidDSN, typed: &dsnErr, hints: []string{"unknown go-ora URL option"}},
		{name: "engine/unknown", engine: "db2", atOpen: true, want: secretsql.ErrUnknownEngine, hints: []string{"registered:", "engines/db2"}},
		{name: "option/bad retry", opts: []secretsql.Option{secretsql.WithRetry(0, 0)}, atOpen: true, want: secretsql.ErrInvalidOption, typed: &dsnErr, hints: []string{"WithRetry", "at least 1"}},

		// Secrets: read, then refused before any connection.
		{name: "secret/not json", secret: "host=db user=app password=PassWordValue1", want: secretsql.ErrMalformedSecret, typed: &secretErr, hints: []string{"not a JSON object", `"username"`}},
		{name: "secret/json array", secret: `["app","PassWordValue1"]`, want: secretsql.ErrMalformedSecret, typed: &secretErr, hints: []string{"not a JSON object"}},
		{name: "secret/truncated json", secret: `{"username":"app","password":"PassWordValue1"`, want: secretsql.ErrMalformedSecret, typed: &secretErr, hints: []string{"not valid JSON"}},
		{name: "secret/port as bool", secret: `{"host":"h","port":true,"username":"app","password":"PassWordValue1"}`, want: secretsql.ErrMalformedSecret, typed: &secretErr, hints: []string{`"port"`, "port number"}},
		{name: "secret/port out of range", secret: `{"host":"h","port":"99999","username":"app","password":"PassWordValue1"}`, want: secretsql.ErrMalformedSecret, typed: &secretErr, hints: []string{`"port"`}},
		{name: "secret/username as number", secret: `{"host":"h","username":42,"password":"PassWordValue1"}`, want: secretsql.ErrMalformedSecret, typed: &secretErr, hints: []string{`"username"`, "JSON string"}},
		{name: "secret/password as object", secret: `{"host":"h","username":"app","password":{"v":"PassWordValue1"}}`, want: secretsql.ErrMalformedSecret, typed: &secretErr, hints: []string{`"password"`, "JSON string"}},
		{name: "secret/missing username", secret: `{"host":"h","password":"PassWordValue1"}`, want: secretsql.ErrMissingKey, typed: &secretErr, hints: []string{`"username"`}},
		{name: "secret/missing password", secret: `{"host":"h","username":"app"}`, want: secretsql.ErrMissingKey, typed: &secretErr, hints: []string{`"password"`}},
		{name: "secret/empty password", secret: `{"host":"h","username":"app","password":""}`, want: secretsql.ErrMissingKey, typed: &secretErr, hints: []string{`"password"`, "missing or empty"}},
		{name: "secret/null password", secret: `{"host":"h","username":"app","password":null}`, want: secretsql.ErrMissingKey, typed: &secretErr, hints: []string{`"password"`}},
		{name: "secret/no host (rds managed)", secret: `{"username":"app","password":"PassWordValue1"}`, want: secretsql.ErrMissingKey, typed: &secretErr, hints: []string{`"host"`, "add host="}},
		{name: "secret/huge not json", secret: big, want: secretsql.ErrMalformedSecret, typed: &secretErr},
		{name: "secret/huge json without password", secret: `{"host":"h","username":"app","note":"` + big + `"}`, want: secretsql.ErrMissingKey, typed: &secretErr, hints: []string{`"password"`}},
		{name: "secret/binary", binary: []byte{0x00, 0xff, 0x10, 0x80, 'p', 'w'}, want: secretsql.ErrMalformedSecret, typed: &secretErr, hints: []string{"not a JSON object"}},
		{name: "secret/unknown engine", secret: `{"engine":"db2","host":"h","username":"app","password":"PassWordValue1"}`, want: secretsql.ErrEngineMismatch, typed: &secretErr, hints: []string{`"db2"`, "secretsmanager-postgres"}},
		{name: "secret/engine mismatch", engine: "mysql", secret: okSecret, want: secretsql.ErrEngineMismatch, typed: &secretErr, hints: []string{`"postgres"`, "secretsmanager-mysql"}},
		{name: "secret/oracle without service", engine: "oracle", secret: `{"engine":"oracle","host":"127.0.0.1","port":1,"username":"app","password":"PassWordValue1"}`, want: secretsql.ErrMissingKey, typed: &secretErr, hints: []string{"service name"}},

		// Secrets Manager errors.
		{name: "sm/not found", dsn: "no/such/secret", want: secretsql.ErrSecretNotFound, typed: &fetchErr, hints: []string{"no/such/secret", "check the secret id"}},
		{name: "sm/stage not found", secret: okSecret, dsn: "NAME?stage=AWSPREVIOUS", want: secretsql.ErrSecretNotFound, typed: &fetchErr, hints: []string{"AWSPREVIOUS", "staging label"}},
		{name: "sm/deleted", secret: okSecret, setup: func(t *testing.T, srv *smtest.Server, name string) { deleteSecret(t, srv, name) },
			want: secretsql.ErrSecretDeleted, typed: &fetchErr, hints: []string{"scheduled for deletion", "RestoreSecret"}},
		{name: "sm/access denied", secret: okSecret, setup: func(_ *testing.T, srv *smtest.Server, name string) { srv.Deny(name) },
			want: secretsql.ErrAccessDenied, typed: &fetchErr, hints: []string{"secretsmanager:GetSecretValue"}},
		{name: "sm/decryption failure", secret: okSecret, setup: func(_ *testing.T, srv *smtest.Server, _ string) { srv.FailNext(getOp, 1, "DecryptionFailure") },
			want: secretsql.ErrDecryption, typed: &fetchErr, hints: []string{"kms:Decrypt"}},
		{name: "sm/throttled", secret: okSecret, setup: func(_ *testing.T, srv *smtest.Server, _ string) { srv.FailNext(getOp, 1, "ThrottlingException") },
			want: secretsql.ErrThrottled, typed: &fetchErr, hints: []string{"throttled", "backs off"}},
		{name: "sm/internal error", secret: okSecret, setup: func(_ *testing.T, srv *smtest.Server, _ string) { srv.FailNext(getOp, 1, "InternalServiceError") },
			want: secretsql.ErrSecretsManager, typed: &fetchErr, hints: []string{"InternalServiceError"}},
		{name: "sm/outage", secret: okSecret, setup: func(_ *testing.T, srv *smtest.Server, _ string) { srv.Outage() },
			want: secretsql.ErrSecretsManager, typed: &fetchErr, hints: []string{"dial tcp", "check network access"}},
		{name: "sm/wrong aws credentials", secret: okSecret,
			want: secretsql.ErrSecretsManager, typed: &fetchErr, hints: []string{"UnrecognizedClientException", "check the AWS credentials"}},
		{name: "db/wrong password", want: secretsql.ErrAuthFailed, typed: &authErr, hints: []string{"rejected the credentials", "28P01"}},
	}
}

func TestMatrix(t *testing.T) {
	srv := newSM(t)
	cases := matrixCases()
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := srv
			if tc.setup != nil || tc.name == "sm/wrong aws credentials" {
				srv = newSM(t) // faults stay with this case
			}
			name := uniqueName(t)
			arn := ""
			switch {
			case tc.binary != nil:
				arn = srv.CreateBinarySecret(name, tc.binary)
			case tc.secret != "":
				arn = srv.CreateSecret(name, tc.secret)
			}
			if tc.name == "db/wrong password" {
				db := testdb.Postgres(t)
				arn = srv.CreateSecret(name, db.SecretJSONFor(db.User, "not-"+db.Password))
				tc.opts = []secretsql.Option{secretsql.WithRetry(2, 10*time.Millisecond)}
			}
			if tc.setup != nil {
				tc.setup(t, srv, name)
			}
			dsn := tc.dsn
			if dsn == "" && tc.name != "dsn/empty" {
				dsn = "NAME"
			}
			dsn = strings.ReplaceAll(strings.ReplaceAll(dsn, "NAME", name), "ARN", arn)
			engine := tc.engine
			if engine == "" {
				engine = "postgres"
			}
			opts := []secretsql.Option{secretsql.WithClient(srv.Client())}
			if tc.name == "sm/wrong aws credentials" {
				cfg := srv.Config()
				cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIDWRONG", "wrong", "")
				opts = []secretsql.Option{secretsql.WithAWSConfig(cfg)}
			} else {
				opts = append(opts, tc.opts...)
			}
			err := matrixRun(t, engine, dsn, opts, tc.atOpen)
			checkMatrixErr(t, tc, err)
		})
	}
}

// matrixRun opens (and unless atOpen pings) within 10 s, and fails the test
// on a hang or a panic.
func matrixRun(t *testing.T, engine, dsn string, opts []secretsql.Option, atOpen bool) (err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		c, err := secretsql.NewConnector(engine, dsn, opts...)
		if err != nil || atOpen {
			if err == nil {
				c.Close()
			}
			done <- err
			return
		}
		db := sql.OpenDB(c)
		defer db.Close()
		done <- db.PingContext(ctx)
	}()
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("no answer within 15 s (the context ends after 10 s)")
	}
	if err != nil && strings.HasPrefix(err.Error(), "panic: ") {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Errorf("the case used up its 10 s context: %v", err)
	}
	return err
}

func checkMatrixErr(t *testing.T, tc matrixCase, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %v", tc.want)
	}
	if !errors.Is(err, tc.want) {
		t.Fatalf("error %q (%T) does not match %v", err, err, tc.want)
	}
	if tc.typed != nil && !errors.As(err, tc.typed) {
		t.Errorf("error %q (%T) is not a %T", err, err, tc.typed)
	}
	// Exactly one of secretsql's sentinels (an AuthError's fetch error is
	// a field, not wrapped).
	n := 0
	for _, s := range allSentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("error %q matches %d sentinels, want 1", err, n)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "secretsql: ") {
		t.Errorf("error %q does not say it comes from secretsql", msg)
	}
	for _, h := range tc.hints {
		if !strings.Contains(msg, h) {
			t.Errorf("error %q does not say %q", msg, h)
		}
	}
	if testing.Verbose() {
		t.Logf("%s", msg)
	}
	if strings.Contains(msg, "PassWordValue1") {
		t.Errorf("error %q reveals the password", msg)
	}
}

var allSentinels = []error{
	secretsql.ErrInvalidDSN, secretsql.ErrInvalidOption, secretsql.ErrUnknownEngine,
	secretsql.ErrSecretNotFound, secretsql.ErrAccessDenied, secretsql.ErrSecretDeleted,
	secretsql.ErrDecryption, secretsql.ErrThrottled, secretsql.ErrSecretsManager,
	secretsql.ErrMalformedSecret, secretsql.ErrMissingKey, secretsql.ErrEngineMismatch,
	secretsql.ErrAuthFailed, secretsql.ErrClosed,
}
