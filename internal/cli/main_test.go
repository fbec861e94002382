package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// isolate points the AWS SDK's default chain at srv only (no ~/.aws, no
// ambient credentials).
func isolate(t *testing.T, srv *smtest.Server) {
	t.Helper()
	isolateEnv(t, emulatorEnv(srv))
}

// isolateEnv sets the environment variables env and no other AWS ones.
func isolateEnv(t *testing.T, env [][2]string) {
	t.Helper()
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, kv := range env {
		t.Setenv(kv[0], kv[1])
	}
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) all() string { return r.stdout + r.stderr }

// cli runs the command and checks that none of secrets appears in its output.
func cli(t *testing.T, secrets []string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	r := result{code, out.String(), errOut.String()}
	for _, s := range secrets {
		if s != "" && strings.Contains(r.all(), s) {
			t.Fatalf("secretsql %s printed a password:\n%s", strings.Join(args, " "), r.all())
		}
	}
	t.Logf("secretsql %s → exit %d\n%s", strings.Join(args, " "), code, r.all())
	return r
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d; output:\n%s", r.code, code, r.all())
	}
}

func wantContains(t *testing.T, r result, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.all(), s) {
			t.Errorf("output lacks %q:\n%s", s, r.all())
		}
	}
}

func decodeReport(t *testing.T, r result) Report {
	t.Helper()
	var rep Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json output is not a Report: %v\n%s", err, r.stdout)
	}
	return rep
}

func newEmulator(t *testing.T) *smtest.Server {
	srv := smtest.NewServer()
	t.Cleanup(srv.Close)
	isolate(t, srv)
	return srv
}

func TestCheckOK(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			srv := newEmulator(t)
			db := testdb.Open(t, engine)
			srv.CreateSecret("app/db", db.SecretJSON())
			r := cli(t, []string{db.Password}, "check", "app/db")
			wantCode(t, r, exitOK)
			wantContains(t, r, "OK: connected to "+engine, db.User, db.Database, "[REDACTED]", "AWSCURRENT", "us-east-1", srv.URL)
			if n := srv.Calls("GetSecretValue"); n != 1 {
				t.Errorf("GetSecretValue calls = %d, want 1 (secretsql's, which tells the engine too)", n)
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	srv := newEmulator(t)
	db := testdb.Postgres(t)
	arn := srv.CreateSecret("app/db", db.SecretJSON())
	r := cli(t, []string{db.Password}, "check", "--json", "app/db", "--engine", "postgres", "--timeout", "20s")
	wantCode(t, r, exitOK)
	rep := decodeReport(t, r)
	if !rep.OK || rep.Class != "ok" || rep.Engine != "postgres" || rep.EngineSource != "flag" || rep.SecretARN != arn ||
		rep.User != db.User || rep.Database != db.Database || rep.Port != db.Port || rep.Host != db.Host ||
		rep.Password != "[REDACTED]" || rep.Stage != "AWSCURRENT" || rep.Region != "us-east-1" || rep.Endpoint != srv.URL {
		t.Errorf("report = %+v", rep)
	}
	if len(rep.Fetches) != 1 || rep.Fetches[0].Stage != "AWSCURRENT" || rep.Fetches[0].VersionID != rep.VersionID {
		t.Errorf("fetches = %+v, want one of AWSCURRENT", rep.Fetches)
	}
	if rep.Rotation != nil || rep.UsedPending || strings.Contains(r.stdout, "version_stages") {
		t.Errorf("a secret without rotation: %+v", rep)
	}
	if rep.Timings.Connect <= 0 || rep.Timings.Total < rep.Timings.Connect {
		t.Errorf("timings = %+v", rep.Timings)
	}
}

func TestCheckAccessDenied(t *testing.T) {
	srv := newEmulator(t)
	arn := srv.CreateSecret("app/db", `{"engine":"postgres","host":"127.0.0.1","username":"u","password":"pw-never-printed"}`)
	srv.Deny("app/db")
	r := cli(t, []string{"pw-never-printed"}, "check", "app/db")
	wantCode(t, r, exitUnreadable)
	wantContains(t, r, "secretsmanager:GetSecretValue", "kms:Decrypt", "arn:aws:secretsmanager:us-east-1:ACCOUNT_ID:secret:app/db-??????")

	r = cli(t, nil, "check", "--json", arn)
	wantCode(t, r, exitUnreadable)
	rep := decodeReport(t, r)
	if rep.Class != "unreadable" || !strings.Contains(strings.Join(rep.Hints, "\n"), `"Resource":"`+arn) {
		t.Errorf("report = %+v", rep)
	}
}

func TestCheckNotFound(t *testing.T) {
	newEmulator(t)
	r := cli(t, nil, "check", "no/such/secret")
	wantCode(t, r, exitUnreadable)
	wantContains(t, r, "secret not found", "looked in region us-east-1", "--region")
}

func TestCheckRDSManagedSecret(t *testing.T) {
	srv := newEmulator(t)
	db := testdb.Postgres(t)
	srv.CreateSecret("rds/managed", `{"username":`+jsonString(db.User)+`,"password":`+jsonString(db.Password)+`}`)

	// No engine key: the engine cannot be inferred.
	r := cli(t, []string{db.Password}, "check", "rds/managed")
	wantCode(t, r, exitUsage)
	wantContains(t, r, "--engine")

	r = cli(t, []string{db.Password}, "check", "rds/managed", "--engine", "postgres")
	wantCode(t, r, exitMalformed)
	wantContains(t, r, "RDS-managed", "host=", "port=", "dbname=")

	// With the DSN keys the hint asks for, it works.
	r = cli(t, []string{db.Password}, "check", "rds/managed", "--engine", "postgres",
		"--dsn-params", "host=127.0.0.1&port=5432&dbname="+db.Database)
	wantCode(t, r, exitOK)
}

func TestCheckEngineMismatch(t *testing.T) {
	srv := newEmulator(t)
	db := testdb.Postgres(t)
	srv.CreateSecret("app/db", db.SecretJSON())
	r := cli(t, []string{db.Password}, "check", "app/db", "--engine", "mysql")
	wantCode(t, r, exitMalformed)
	wantContains(t, r, "does not match", "--engine postgres")
}

func TestCheckUnsupportedEngine(t *testing.T) {
	srv := newEmulator(t)
	srv.CreateSecret("app/db2", `{"engine":"db2","host":"h","username":"u","password":"p-secret"}`)
	r := cli(t, []string{"p-secret"}, "check", "app/db2")
	wantCode(t, r, exitMalformed)
	wantContains(t, r, `"db2" is not supported`)
}

// TestEngineFor: every secret "engine" value maps to one engine, whatever
// else accepts it.
func TestEngineFor(t *testing.T) {
	for _, tc := range []struct{ secretEngine, engine string }{
		{"mysql", "mysql"}, {"aurora", "mysql"}, {"aurora-mysql", "mysql"}, {"mariadb", "mariadb"},
		{"postgres", "postgres"}, {"postgresql", "postgres"}, {"aurora-postgresql", "postgres"},
		{"redshift", "redshift"}, {"redshift-serverless", "redshift"},
		{"oracle", "oracle"}, {"oracle-ee", "oracle"}, {"sqlserver", "sqlserver"}, {"sqlserver-se", "sqlserver"},
		{"db2", ""}, {"", ""},
	} {
		if got := engineFor(tc.secretEngine); got != tc.engine {
			t.Errorf("engineFor(%q) = %q, want %q", tc.secretEngine, got, tc.engine)
		}
	}
}

// TestCheckFileSource: check reads a mounted file once, infers the engine
// from it, connects, and says that the file served. A file has no staging
// labels, no region and no endpoint: the report shows none.
func TestCheckFileSource(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := testdb.Open(t, engine)
			path := filepath.Join(t.TempDir(), "prod_db")
			if err := os.WriteFile(path, []byte(db.SecretJSON()), 0o600); err != nil {
				t.Fatal(err)
			}
			r := cli(t, []string{db.Password}, "check", "file:"+path)
			wantCode(t, r, exitOK)
			wantContains(t, r, "source     file\n", "fetch      file read: ", "OK: connected to "+engine)
			wantLacks(t, r, "AWSCURRENT", "region", "endpoint", "()", "arn ")
			if n := strings.Count(r.stdout, "fetch "); n != 1 {
				t.Errorf("%d reads of the file, want 1", n)
			}
		})
	}
}

// TestCheckNotJSON: a secret that is not JSON is a malformed secret (exit
// 4, with the structure to store), not a usage error about the engine.
func TestCheckNotJSON(t *testing.T) {
	srv := newEmulator(t)
	srv.CreateSecret("app/plain", "host=db user=app password=p-secret-plain")
	r := cli(t, []string{"p-secret-plain"}, "check", "app/plain")
	wantCode(t, r, exitMalformed)
	wantContains(t, r, "not a JSON object", `"username"`)
}

func TestCheckAuthFailedRotationInProgress(t *testing.T) {
	srv := newEmulator(t)
	db := testdb.Postgres(t)
	wrong1, wrong2 := testdb.RandomPassword(), testdb.RandomPassword()
	srv.CreateSecret("app/db", db.SecretJSONFor(db.User, wrong1))
	pending := srv.PutSecretString("app/db", db.SecretJSONFor(db.User, wrong2), "AWSPENDING")
	secrets := []string{db.Password, wrong1, wrong2}

	r := cli(t, secrets, "check", "app/db", "--json", "--timeout", "30s")
	wantCode(t, r, exitAuthFailed)
	rep := decodeReport(t, r)
	if rep.Rotation == nil || !rep.Rotation.InProgress || rep.Rotation.PendingVersionID != pending || !rep.Rotation.PasswordDiffers {
		t.Fatalf("rotation = %+v", rep.Rotation)
	}
	r = cli(t, secrets, "check", "app/db", "--timeout", "30s")
	wantCode(t, r, exitAuthFailed)
	wantContains(t, r, "rotation is in progress", pending, "rejected both")
}

func TestCheckAuthFailedNoPending(t *testing.T) {
	srv := newEmulator(t)
	db := testdb.MariaDB(t)
	wrong := testdb.RandomPassword()
	srv.CreateSecret("app/db", db.SecretJSONFor(db.User, wrong))
	r := cli(t, []string{db.Password, wrong}, "check", "app/db", "--timeout", "30s")
	wantCode(t, r, exitAuthFailed)
	wantContains(t, r, "no AWSPENDING version")
}

// During a rotation's setSecret→finishSecret window the database accepts
// only AWSPENDING: check succeeds through secretsql's fallback and says so.
func TestCheckRotationWindow(t *testing.T) {
	srv := newEmulator(t)
	db := testdb.Postgres(t)
	old := testdb.RandomPassword()
	srv.CreateSecret("app/db", db.SecretJSONFor(db.User, old))
	pending := srv.PutSecretString("app/db", db.SecretJSON(), "AWSPENDING")
	r := cli(t, []string{db.Password, old}, "check", "app/db", "--json", "--timeout", "30s")
	wantCode(t, r, exitOK)
	rep := decodeReport(t, r)
	if !rep.UsedPending || rep.VersionID != pending {
		t.Errorf("used pending = %v, version %s (pending %s)", rep.UsedPending, rep.VersionID, pending)
	}
}

func TestCheckUnreachable(t *testing.T) {
	srv := newEmulator(t)
	srv.CreateSecret("app/db", `{"engine":"postgres","host":"127.0.0.1","port":1,"username":"u","password":"pw-never-printed","dbname":"x"}`)
	r := cli(t, []string{"pw-never-printed"}, "check", "app/db")
	wantCode(t, r, exitUnreachable)
	wantContains(t, r, "127.0.0.1:1")
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"check"}, {"check", "a", "b"}, {"check", "--bogus", "a"},
		{"check", "a", "--dsn-params", "%zz"}, {"emulator", "extra"}, {"version", "x"}} {
		r := cli(t, nil, args...)
		if r.code != exitUsage {
			t.Errorf("secretsql %q: exit %d, want %d", args, r.code, exitUsage)
		}
	}
	for _, cmd := range []string{"check", "emulator", "rotate", "version"} {
		if r := cli(t, nil, cmd, "-h"); r.code != exitOK {
			t.Errorf("secretsql %s -h: exit %d, want %d", cmd, r.code, exitOK)
		}
	}
	newEmulator(t)
	r := cli(t, nil, "check", "app/db", "--engine", "nosuchengine")
	wantCode(t, r, exitUsage)
	wantContains(t, r, "unknown engine")
}

func TestVersion(t *testing.T) {
	r := cli(t, nil, "version")
	wantCode(t, r, exitOK)
	wantContains(t, r, "secretsql ", "go1.", "postgres", "mysql")
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEmulator(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "secrets.json")
	const pw = "seeded-pw-never-printed"
	err := os.WriteFile(seed, []byte(`{
		"prod/db": {"engine": "postgres", "host": "127.0.0.1", "username": "app", "password": "`+pw+`"},
		"plain": "just a string"
	}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- Main([]string{"emulator", "--addr", "127.0.0.1:0", "--seed", seed}, &out, &errOut) }()

	env := waitForExports(t, &out, &errOut)
	// What an application does with that environment: the SDK's client.
	client := secretsmanager.New(secretsmanager.Options{
		Region:           env["AWS_REGION"],
		BaseEndpoint:     aws.String(env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]),
		Credentials:      credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], ""),
		RetryMaxAttempts: 1,
	})
	ctx := context.Background()
	got, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(got.SecretString)), &v); err != nil || v["password"] != pw || v["engine"] != "postgres" {
		t.Errorf("prod/db = %v (%v)", v, err)
	}
	got, err = client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("plain")})
	if err != nil || aws.ToString(got.SecretString) != "just a string" {
		t.Errorf("plain = %v, %v", got, err)
	}
	// Stop it as a user would; Main has a handler for SIGTERM installed.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d; stderr: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("emulator did not stop on SIGTERM")
	}
	if strings.Contains(out.String()+errOut.String(), pw) {
		t.Errorf("emulator printed a seeded password:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "created secret prod/db") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestEmulatorBadSeed(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "secrets.json")
	if err := os.WriteFile(seed, []byte(`{"x": 42}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "emulator", "--addr", "127.0.0.1:0", "--seed", seed)
	wantCode(t, r, exitUsage)
	wantContains(t, r, "must be a JSON object or string")
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
