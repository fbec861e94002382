package iamtest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"

	"github.com/secretsql/secretsql/iamtest"
)

const region = "us-east-1"

// emptyPayloadHash is what aws-sdk-go-v2's feature/rds/auth and
// feature/dsql/auth sign as the payload.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func creds(k iamtest.AccessKey) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, k.SessionToken)
}

// rdsToken is a token of aws-sdk-go-v2's feature/rds/auth (signed now).
func rdsToken(t testing.TB, endpoint, user string, k iamtest.AccessKey) string {
	t.Helper()
	tok, err := auth.BuildAuthToken(context.Background(), endpoint, region, user, creds(k))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// presign signs a GET of https://endpoint?params with aws-sdk-go-v2's own
// SigV4 signer, as feature/dsql/auth does (the module is not on this
// machine's module proxy), and returns it without the scheme: the way to
// make DSQL tokens and tokens with a wrong action or service.
func presign(t testing.TB, endpoint, service string, params map[string]string, k iamtest.AccessKey, at time.Time) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+endpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := req.URL.Query()
	for name, v := range params {
		q.Set(name, v)
	}
	req.URL.RawQuery = q.Encode()
	c, err := creds(k).Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), c, req, emptyPayloadHash, service, region, at)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u, "https://")
}

// dsqlToken is a DSQL token for host with action, as feature/dsql/auth
// makes it (X-Amz-Expires 900 unless expires is set).
func dsqlToken(t testing.TB, host, action string, k iamtest.AccessKey, at time.Time, expires time.Duration) string {
	t.Helper()
	if expires == 0 {
		expires = 15 * time.Minute
	}
	return presign(t, host, iamtest.ServiceDSQL, map[string]string{
		"Action": action, "X-Amz-Expires": strconv.Itoa(int(expires / time.Second)),
	}, k, at)
}

// botoTokens are tokens made by botocore, an implementation nobody here
// wrote.
type botoTokens struct {
	RDS        string `json:"rds"`         // generate_db_auth_token
	DSQL       string `json:"dsql"`        // generate_db_connect_auth_token
	DSQLAdmin  string `json:"dsql_admin"`  // generate_db_connect_admin_auth_token
	RDSSession string `json:"rds_session"` // generate_db_auth_token with a session token
	RDSMixed   string `json:"rds_mixed"`   // generate_db_auth_token for host LocalHost
}

// python returns the Python 3 of pyenv (with boto3), or skips the test
// (fails it under CI=true).
func python(t testing.TB) string {
	t.Helper()
	if out, err := exec.Command("pyenv", "which", "python3").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	if home, err := os.UserHomeDir(); err == nil {
		if m, _ := filepath.Glob(filepath.Join(home, ".pyenv/versions/3*/bin/python3")); len(m) > 0 {
			return m[len(m)-1]
		}
	}
	msg := "python3 of pyenv (with boto3) not found: this test checks the verifier against botocore's tokens"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// botocore runs botocore's token generators for the RDS endpoint
// host:port, user, and the DSQL endpoint host with key k (passed in the
// environment, not on the command line).
func botocore(t testing.TB, host string, port int, user string, k iamtest.AccessKey, sessionToken string) botoTokens {
	t.Helper()
	const script = `
import json, os, sys
import boto3
host, port, user, region = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = boto3.session.Session(region_name=region)
d = s.client("dsql")
out = {
    "rds": s.client("rds").generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user),
    "dsql": d.generate_db_connect_auth_token(Hostname=host, Region=region),
    "dsql_admin": d.generate_db_connect_admin_auth_token(Hostname=host, Region=region),
}
s2 = boto3.session.Session(region_name=region, aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"], aws_session_token=os.environ["SESSION_TOKEN"])
out["rds_session"] = s2.client("rds").generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user)
out["rds_mixed"] = s.client("rds").generate_db_auth_token(DBHostname="LocalHost", Port=port, DBUsername=user)
json.dump(out, sys.stdout)
`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python(t), "-c", script, host, strconv.Itoa(port), user, region)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+k.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+k.SecretAccessKey,
		"SESSION_TOKEN="+sessionToken,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := "botocore's token generators failed (is boto3 installed for " + cmd.Path + "?): " + err.Error() + ": " + stderr.String()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var toks botoTokens
	if err := json.Unmarshal(out, &toks); err != nil {
		t.Fatalf("botocore's output: %v", err)
	}
	return toks
}
