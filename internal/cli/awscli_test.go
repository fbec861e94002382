package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/rotation/sqldb/sqldbtest"
	"github.com/secretsql/secretsql/internal/testdb"
)

// This file drives `secretsql emulator` with the AWS CLI v2 (Debian's
// awscli package; `make test` installs it): a client nobody here wrote.

// awsCLIv2 returns the path of an AWS CLI whose version is 2.x, or skips the
// test (fails it under CI=true). The first aws on PATH may be a v1.
func awsCLIv2(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/aws", "/usr/local/bin/aws"}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		candidates = append(candidates, filepath.Join(dir, "aws"))
	}
	var seen []string
	for _, c := range candidates {
		out, err := exec.Command(c, "--version").CombinedOutput()
		if err != nil {
			continue
		}
		if v := strings.TrimSpace(string(out)); strings.HasPrefix(v, "aws-cli/2") {
			return c
		} else {
			seen = append(seen, c+": "+v)
		}
	}
	msg := fmt.Sprintf("no AWS CLI v2 found (found: %v); install Debian's awscli package (bash scripts/awscli.sh, which make test runs)", seen)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// awsSession runs AWS CLI commands against an emulator.
type awsSession struct {
	t        *testing.T
	bin      string
	endpoint string
	env      []string
}

func newAWSSession(t *testing.T, e *emulator) *awsSession {
	home := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C.UTF-8",
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_PAGER=", "AWS_MAX_ATTEMPTS=1", "AWS_EC2_METADATA_DISABLED=true"}
	for _, kv := range e.env.pairs() {
		if kv[0] != "AWS_ENDPOINT_URL_SECRETS_MANAGER" {
			env = append(env, kv[0]+"="+kv[1])
		}
	}
	// Debian's CLI 2.9 predates service endpoint variables: --endpoint-url.
	return &awsSession{t: t, bin: awsCLIv2(t), endpoint: e.env["AWS_ENDPOINT_URL_SECRETS_MANAGER"], env: env}
}

var cliError = regexp.MustCompile(`An error occurred \(([A-Za-z]+)\) when calling the ([A-Za-z]+) operation`)

// run runs `aws secretsmanager args...` and returns its JSON output, or the
// AWS error code it printed.
func (s *awsSession) run(env []string, args ...string) (map[string]any, string) {
	s.t.Helper()
	cmd := exec.Command(s.bin, append([]string{"--endpoint-url", s.endpoint, "--output", "json", "secretsmanager"}, args...)...)
	cmd.Env = append(slices.Clone(s.env), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	s.t.Logf("aws secretsmanager %s → %v\n%s", strings.Join(args, " "), err, stderr.String())
	if err != nil {
		m := cliError.FindStringSubmatch(stderr.String())
		if m == nil {
			s.t.Fatalf("aws %s failed without an AWS error: %v\n%s", args[0], err, stderr.String())
		}
		return nil, m[1]
	}
	out := map[string]any{}
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			s.t.Fatalf("aws %s printed %q: %v", args[0], stdout.String(), err)
		}
	}
	return out, ""
}

// ok runs a command that must succeed.
func (s *awsSession) ok(args ...string) map[string]any {
	s.t.Helper()
	out, code := s.run(nil, args...)
	if code != "" {
		s.t.Fatalf("aws secretsmanager %s: %s", strings.Join(args, " "), code)
	}
	return out
}

// fails runs a command that must fail with the error code.
func (s *awsSession) fails(code string, args ...string) {
	s.t.Helper()
	if _, got := s.run(nil, args...); got != code {
		s.t.Fatalf("aws secretsmanager %s: error %q, want %s", strings.Join(args, " "), got, code)
	}
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// stagesOf returns the staging labels of version from describe-secret.
func stagesOf(desc map[string]any, version string) []string {
	var out []string
	stages, _ := desc["VersionIdsToStages"].(map[string]any)[version].([]any)
	for _, s := range stages {
		out = append(out, s.(string))
	}
	return out
}

func TestAWSCLISession(t *testing.T) {
	e := startEmulator(t, "--addr", "127.0.0.1:0")
	s := newAWSSession(t, e)

	created := s.ok("create-secret", "--name", "cli/app", "--secret-string", "v1", "--description", "first",
		"--tags", "Key=team,Value=billing")
	v1 := str(created, "VersionId")
	if got := str(s.ok("get-secret-value", "--secret-id", "cli/app"), "SecretString"); got != "v1" {
		t.Fatalf("get-secret-value: %q", got)
	}
	token := "0f0e0d0c-0b0a-4909-8807-060504030201"
	if got := str(s.ok("put-secret-value", "--secret-id", "cli/app", "--secret-string", "v2",
		"--version-stages", "AWSPENDING", "--client-request-token", token), "VersionId"); got != token {
		t.Fatalf("put-secret-value VersionId %q, want the client request token", got)
	}
	desc := s.ok("describe-secret", "--secret-id", str(created, "ARN"))
	if !slices.Equal(stagesOf(desc, token), []string{"AWSPENDING"}) || !slices.Equal(stagesOf(desc, v1), []string{"AWSCURRENT"}) {
		t.Fatalf("describe-secret: %v", desc["VersionIdsToStages"])
	}
	if versions := s.ok("list-secret-version-ids", "--secret-id", "cli/app")["Versions"].([]any); len(versions) != 2 {
		t.Fatalf("list-secret-version-ids: %v", versions)
	}
	s.fails("InvalidParameterException", "update-secret-version-stage", "--secret-id", "cli/app",
		"--version-stage", "AWSCURRENT", "--move-to-version-id", token)
	s.ok("update-secret-version-stage", "--secret-id", "cli/app", "--version-stage", "AWSCURRENT",
		"--move-to-version-id", token, "--remove-from-version-id", v1)
	if got := str(s.ok("get-secret-value", "--secret-id", "cli/app", "--version-stage", "AWSPREVIOUS"), "SecretString"); got != "v1" {
		t.Fatalf("AWSPREVIOUS: %q", got)
	}
	s.ok("update-secret", "--secret-id", "cli/app", "--description", "second", "--secret-string", "v3")
	s.ok("tag-resource", "--secret-id", "cli/app", "--tags", "Key=env,Value=dev")
	s.ok("untag-resource", "--secret-id", "cli/app", "--tag-keys", "team")
	list := s.ok("list-secrets", "--filters", "Key=tag-key,Values=env", "Key=description,Values=sec")["SecretList"].([]any)
	if len(list) != 1 || str(list[0].(map[string]any), "Name") != "cli/app" {
		t.Fatalf("list-secrets: %v", list)
	}
	pw := str(s.ok("get-random-password", "--password-length", "20", "--exclude-punctuation"), "RandomPassword")
	if len(pw) != 20 || strings.ContainsAny(pw, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") {
		t.Fatalf("get-random-password: %q", pw)
	}
	s.ok("delete-secret", "--secret-id", "cli/app", "--recovery-window-in-days", "7")
	s.fails("InvalidRequestException", "get-secret-value", "--secret-id", "cli/app")
	s.ok("restore-secret", "--secret-id", "cli/app")
	s.ok("delete-secret", "--secret-id", "cli/app", "--force-delete-without-recovery")
	s.fails("ResourceNotFoundException", "get-secret-value", "--secret-id", "cli/app")
	s.fails("ResourceNotFoundException", "describe-secret", "--secret-id", "cli/unknown")
	s.fails("UnknownOperationException", "get-resource-policy", "--secret-id", "cli/unknown")
	if _, code := s.run([]string{"AWS_SECRET_ACCESS_KEY=wrong-secret-key"}, "list-secrets"); code != "InvalidSignatureException" {
		t.Fatalf("wrong secret key: %q, want InvalidSignatureException", code)
	}
	s.fails("ValidationException", "rotate-secret", "--secret-id", "cli/unknown", "--rotation-rules", `{"ScheduleExpression":"cron(0 12 * * ? *)"}`)
}

// TestAWSCLIRotateSecret rotates real PostgreSQL and MariaDB users with
// `aws secretsmanager rotate-secret`, single user and alternating users,
// and checks on the database that the old password is refused and the new
// one accepted.
func TestAWSCLIRotateSecret(t *testing.T) {
	e := startEmulator(t, "--addr", "127.0.0.1:0")
	awsCLIv2(t)
	for _, engine := range testdb.Engines() {
		for _, strategy := range rotation.Strategies() {
			name := engine + "/" + strategy.String()
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := newAWSSession(t, e)
				tdb, db := sqldbtest.Open(t, engine)
				id := "cli/" + strings.ReplaceAll(name, " ", "-")
				secret := tdb.SecretJSON()
				// Alternating users: the clone gets the first new password,
				// the user itself the second.
				want := []string{tdb.User, tdb.User}
				if strategy == rotation.AlternatingUsers {
					master := str(s.ok("create-secret", "--name", id+"/admin", "--secret-string", tdb.AdminSecretJSON()), "ARN")
					secret = sqldbtest.WithMaster(secret, master)
					want[0] = rotation.AltUsername(tdb.User)
				}
				s.ok("create-secret", "--name", id, "--secret-string", secret)
				for i := range want {
					waitCurrent(t, e, id, str(s.ok("rotate-secret", "--secret-id", id), "VersionId"))
					if desc := s.ok("describe-secret", "--secret-id", id); desc["RotationEnabled"] != true || desc["LastRotatedDate"] == nil {
						t.Fatalf("describe-secret after rotate-secret: %v", desc)
					}
					var cur struct{ Username, Password string }
					if err := json.Unmarshal([]byte(str(s.ok("get-secret-value", "--secret-id", id), "SecretString")), &cur); err != nil || cur.Username != want[i] {
						t.Fatalf("rotation %d: user %s (%v), want %s", i+1, cur.Username, err, want[i])
					}
					sqldbtest.Login(t, db, cur.Username, cur.Password, true)
				}
				// Both rotations changed the user's password at least once.
				sqldbtest.Login(t, db, tdb.User, tdb.Password, false)
				if out := s.ok("cancel-rotate-secret", "--secret-id", id); str(out, "Name") != id {
					t.Fatalf("cancel-rotate-secret: %v", out)
				}
				if desc := s.ok("describe-secret", "--secret-id", id); desc["RotationEnabled"] != false {
					t.Fatalf("RotationEnabled after cancel-rotate-secret: %v", desc["RotationEnabled"])
				}
			})
		}
	}
}

// waitCurrent waits (bounded) until version of the secret is AWSCURRENT.
func waitCurrent(t *testing.T, e *emulator, id, version string) {
	t.Helper()
	c := e.env.client(http.DefaultTransport)
	var stages map[string][]string
	waitFor(t, time.Minute, func() bool {
		d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		stages = d.VersionIdsToStages
		return slices.Contains(stages[version], "AWSCURRENT")
	}, func() string {
		return fmt.Sprintf("version %s of %s not AWSCURRENT: %v\n%s", version, id, stages, e.errOut)
	})
}
