package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secretsql/secretsql/iamtest"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// wantLacks fails the test if the output holds any of subs.
func wantLacks(t *testing.T, r result, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(r.all(), s) {
			t.Errorf("output holds %q:\n%s", s, r.all())
		}
	}
}

// TestCheckReadsOnce: check reads a healthy secret once, through secretsql
// (the read that tells check the secret's engine serves the engine's
// Connector too), whether the engine comes from the secret or from
// --engine, and the report lists that read.
func TestCheckReadsOnce(t *testing.T) {
	db := testdb.Postgres(t)
	for _, args := range [][]string{{}, {"--engine", "postgres"}} {
		t.Run(fmt.Sprint(len(args) > 0), func(t *testing.T) {
			srv := newEmulator(t)
			srv.CreateSecret("app/db", db.SecretJSON())
			r := cli(t, []string{db.Password}, append([]string{"check", "app/db", "--json"}, args...)...)
			wantCode(t, r, exitOK)
			rep := decodeReport(t, r)
			if n := srv.Calls("GetSecretValue"); n != 1 || len(rep.Fetches) != 1 {
				t.Errorf("GetSecretValue calls = %d, fetches reported %d; want 1 and 1 (secretsql's own read, nothing of check's)", n, len(rep.Fetches))
			}
		})
	}
}

// TestCheckTokenDSN: check on an iam:// or dsql:// DSN signs a token with
// the AWS credentials of the environment, logs in with it, and reports the
// user, host, database, region and that a token was signed, never the token
// (nor the keys that sign it); the engine of an iam:// DSN comes from its
// port. A token the database refuses gets the IAM hints, none of Secrets
// Manager's.
func TestCheckTokenDSN(t *testing.T) {
	db := testdb.Postgres(t)
	user := iamtest.PostgresUser(t, db.Admin, db.Database)
	for _, tc := range []struct {
		scheme, dsn, source, engineSource string
		mode                              iamtest.Mode
	}{
		{"iam", fmt.Sprintf("iam://%s@127.0.0.1:%d/%s", user, db.Port, db.Database), "iam", "port", iamtest.RDS},
		{"dsql", fmt.Sprintf("dsql://%s@127.0.0.1/%s", user, db.Database), "dsql", "dsn", iamtest.DSQL},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			key := iamtest.AddKey(t, iamtest.AccessKey{Region: "us-east-1", Mode: tc.mode})
			isolateEnv(t, [][2]string{{"AWS_REGION", "us-east-1"},
				{"AWS_ACCESS_KEY_ID", key.AccessKeyID}, {"AWS_SECRET_ACCESS_KEY", key.SecretAccessKey}})
			never := []string{key.SecretAccessKey, key.AccessKeyID, "X-Amz-Signature", "X-Amz-Credential"}

			// The DSN's keys may follow it, as in sql.Open.
			r := cli(t, never, "check", tc.dsn+"?region=us-east-1", "--json", "--timeout", "30s")
			wantCode(t, r, exitOK)
			rep := decodeReport(t, r)
			if rep.SecretID != tc.dsn || rep.Source != tc.source || rep.Engine != "postgres" || rep.EngineSource != tc.engineSource ||
				rep.User != user || rep.Host != "127.0.0.1" || rep.Port != db.Port || rep.Database != db.Database ||
				rep.Region != "us-east-1" || rep.Endpoint != "" || rep.Password != "[REDACTED]" || rep.Rotation != nil {
				t.Errorf("report = %+v", rep)
			}
			if len(rep.Fetches) != 1 || rep.Fetches[0].Source != tc.source || rep.Fetches[0].Error != "" {
				t.Errorf("fetches = %+v, want one signing", rep.Fetches)
			}

			r = cli(t, never, "check", tc.dsn, "--timeout", "30s")
			wantCode(t, r, exitOK)
			wantContains(t, r, "token signed here", user, "OK: connected to postgres at 127.0.0.1")
			wantLacks(t, r, "GetSecretValue", "endpoint", "AWSCURRENT")

			// A key the test bed does not know: the database refuses its tokens.
			isolateEnv(t, [][2]string{{"AWS_REGION", "us-east-1"},
				{"AWS_ACCESS_KEY_ID", "AKIAUNKNOWN" + strings.ToUpper(user[4:])}, {"AWS_SECRET_ACCESS_KEY", "unknown-" + key.SecretAccessKey}})
			r = cli(t, append(never, "AKIAUNKNOWN", "unknown-"+key.SecretAccessKey), "check", tc.dsn, "--timeout", "30s")
			wantCode(t, r, exitAuthFailed)
			wantContains(t, r, "refused the token")
			wantLacks(t, r, "AWSPENDING", "secretsmanager:", "rotation", "credentials chain")
		})
	}
}

// TestCheckFileAuthFailed: the database rejects a file's credentials:
// the hints speak of the file, not of AWSPENDING, GetSecretValue or the
// AWS credentials (check reads nothing else).
func TestCheckFileAuthFailed(t *testing.T) {
	isolateEnv(t, nil)
	db := testdb.Postgres(t)
	wrong := testdb.RandomPassword()
	path := filepath.Join(t.TempDir(), "prod_db")
	if err := os.WriteFile(path, []byte(db.SecretJSONFor(db.User, wrong)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cli(t, []string{db.Password, wrong}, "check", "file:"+path, "--json", "--timeout", "30s")
	wantCode(t, r, exitAuthFailed)
	rep := decodeReport(t, r)
	hints := strings.Join(rep.Hints, "\n")
	if rep.Source != "file" || rep.Rotation != nil || rep.Region != "" || !strings.Contains(hints, "file") {
		t.Errorf("report = %+v", rep)
	}
	for _, s := range []string{"AWSPENDING", "GetSecretValue", "credentials chain"} {
		if strings.Contains(hints, s) {
			t.Errorf("hints speak of %s:\n%s", s, hints)
		}
	}
}

// TestCheckAgent: through the agent, a healthy check makes one request
// (the probe's read serves the engine's Connector), and a denied read is
// to be granted to the agent's own IAM role, not to whoever runs check.
func TestCheckAgent(t *testing.T) {
	srv := smtest.NewServer()
	t.Cleanup(srv.Close)
	a := smtest.NewAgent(srv)
	t.Cleanup(a.Close)
	isolateEnv(t, agentEnv(a))

	db := testdb.Postgres(t)
	srv.CreateSecret("app/ok", db.SecretJSON())
	r := cli(t, []string{db.Password, a.Token}, "check", "app/ok", "--dsn-params", "source=agent", "--json")
	wantCode(t, r, exitOK)
	rep := decodeReport(t, r)
	if rep.Source != "agent" || !strings.HasSuffix(rep.Endpoint, a.Addr[strings.LastIndex(a.Addr, ":"):]) || rep.Stage != "AWSCURRENT" || rep.User != db.User {
		t.Errorf("report = %+v", rep)
	}
	if n := a.Requests(); n != 1 || len(rep.Fetches) != 1 {
		t.Errorf("%d requests to the agent, %d fetches reported; want 1 and 1", n, len(rep.Fetches))
	}

	srv.CreateSecret("app/db", `{"engine":"postgres","host":"127.0.0.1","username":"u","password":"pw-never-printed"}`)
	srv.Deny("app/db")
	r = cli(t, []string{"pw-never-printed", a.Token}, "check", "app/db", "--dsn-params", "source=agent", "--json")
	wantCode(t, r, exitUnreadable)
	rep = decodeReport(t, r)
	hints := strings.Join(rep.Hints, "\n")
	if rep.Source != "agent" || !strings.Contains(hints, "the agent's") || !strings.Contains(hints, "secretsmanager:GetSecretValue") {
		t.Errorf("report = %+v", rep)
	}
	if strings.Contains(hints, "running this") || strings.Contains(hints, "credentials chain") {
		t.Errorf("hints ask to grant the caller, not the agent:\n%s", hints)
	}
}
