package smtest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql/smtest"
)

const getBody = `{"SecretId":"db"}`

func TestSigV4Accepted(t *testing.T) {
	srv, _ := newServer(t)
	srv.CreateSecret("db", "v1")
	r := do(t, signedRequest(t, srv, "GetSecretValue", getBody, signOpts{}))
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var out struct {
		Name, SecretString string
		CreatedDate        float64
		VersionStages      []string
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(err)
	}
	if out.Name != "db" || out.SecretString != "v1" || out.CreatedDate < 1e9 || len(out.VersionStages) != 1 {
		t.Fatalf("body %s", r.Body)
	}
	// Signed a few minutes ago: still inside the 15 minute window.
	r = do(t, signedRequest(t, srv, "GetSecretValue", getBody, signOpts{at: time.Now().Add(-5 * time.Minute)}))
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
}

func TestSigV4Rejections(t *testing.T) {
	srv, _ := newServer(t)
	srv.CreateSecret("db", "v1")

	t.Run("no authorization", func(t *testing.T) {
		wantRaw(t, do(t, unsignedRequest(t, srv, "GetSecretValue", getBody)), 400, "MissingAuthenticationTokenException")
	})
	t.Run("malformed authorization", func(t *testing.T) {
		for _, h := range []string{
			"garbage",
			"AWS4-HMAC-SHA256 Credential=AKIDSMTEST/20240101/us-east-1/secretsmanager/aws4_request",
			"AWS4-HMAC-SHA256 Credential=AKIDSMTEST, SignedHeaders=host, Signature=" + strings.Repeat("0", 64),
			"AWS4-HMAC-SHA512 Credential=AKIDSMTEST/20240101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("0", 64),
			"AWS4-HMAC-SHA256 Credential=AKIDSMTEST/20240101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=xyz",
		} {
			req := signedRequest(t, srv, "GetSecretValue", getBody, signOpts{})
			req.Header.Set("Authorization", h)
			wantRaw(t, do(t, req), 400, "IncompleteSignatureException")
		}
		req := signedRequest(t, srv, "GetSecretValue", getBody, signOpts{})
		req.Header.Del("X-Amz-Date")
		wantRaw(t, do(t, req), 400, "IncompleteSignatureException")
	})
	t.Run("unknown access key", func(t *testing.T) {
		req := signedRequest(t, srv, "GetSecretValue", getBody, signOpts{accessKeyID: "AKIDOTHER", secretAccessKey: smtest.DefaultSecretAccessKey})
		wantRaw(t, do(t, req), 400, "UnrecognizedClientException")
	})
	t.Run("wrong secret key", func(t *testing.T) {
		req := signedRequest(t, srv, "GetSecretValue", getBody, signOpts{accessKeyID: smtest.DefaultAccessKeyID, secretAccessKey: "wrong"})
		wantRaw(t, do(t, req), 400, "InvalidSignatureException")
	})
	t.Run("tampered body", func(t *testing.T) {
		req := signedRequest(t, srv, "GetSecretValue", getBody, signOpts{})
		tampered := `{"SecretId":"xx"}` // same length, so Content-Length still matches
		req.Body = io.NopCloser(bytes.NewReader([]byte(tampered)))
		wantRaw(t, do(t, req), 400, "InvalidSignatureException")
	})
	t.Run("tampered signed header", func(t *testing.T) {
		req := signedRequest(t, srv, "GetSecretValue", getBody, signOpts{})
		req.Header.Set("X-Amz-Target", "secretsmanager.DescribeSecret")
		wantRaw(t, do(t, req), 400, "InvalidSignatureException")
	})
	t.Run("wrong region", func(t *testing.T) {
		req := signedRequest(t, srv, "GetSecretValue", getBody, signOpts{region: "eu-west-1"})
		wantRaw(t, do(t, req), 400, "InvalidSignatureException")
	})
	t.Run("wrong service", func(t *testing.T) {
		req := signedRequest(t, srv, "GetSecretValue", getBody, signOpts{service: "ssm"})
		wantRaw(t, do(t, req), 400, "InvalidSignatureException")
	})
	t.Run("expired", func(t *testing.T) {
		req := signedRequest(t, srv, "GetSecretValue", getBody, signOpts{at: time.Now().Add(-20 * time.Minute)})
		r := do(t, req)
		wantRaw(t, r, 400, "InvalidSignatureException")
		if !strings.Contains(r.Message, "Signature expired") {
			t.Fatalf("message %q", r.Message)
		}
	})
	t.Run("from the future", func(t *testing.T) {
		req := signedRequest(t, srv, "GetSecretValue", getBody, signOpts{at: time.Now().Add(20 * time.Minute)})
		wantRaw(t, do(t, req), 400, "InvalidSignatureException")
	})
	t.Run("SDK with wrong credentials", func(t *testing.T) {
		for _, tc := range []struct{ key, secret, code string }{
			{"AKIDOTHER", smtest.DefaultSecretAccessKey, "UnrecognizedClientException"},
			{smtest.DefaultAccessKeyID, "wrong", "InvalidSignatureException"},
		} {
			c := secretsmanager.New(secretsmanager.Options{
				Region:           srv.Region,
				Credentials:      credentials.NewStaticCredentialsProvider(tc.key, tc.secret, ""),
				BaseEndpoint:     aws.String(srv.URL),
				RetryMaxAttempts: 1,
			})
			_, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")})
			wantCode(t, err, tc.code)
		}
	})
	// Refused requests reached the server, so they count.
	if n := srv.Calls("GetSecretValue"); n < 10 {
		t.Fatalf("Calls(GetSecretValue) = %d, want every refused request counted", n)
	}
}

func TestCustomCredentialsAndRegion(t *testing.T) {
	srv, c := newServer(t,
		smtest.WithRegion("eu-central-1"),
		smtest.WithAccountID("111122223333"),
		smtest.WithCredentials("AKIDCUSTOM", "custom-secret"),
	)
	if srv.Region != "eu-central-1" || srv.AccountID != "111122223333" {
		t.Fatalf("Region %q AccountID %q", srv.Region, srv.AccountID)
	}
	arn := srv.CreateSecret("db", "v1")
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:eu-central-1:111122223333:secret:db-") {
		t.Fatalf("ARN %q", arn)
	}
	if getString(t, c, arn) != "v1" {
		t.Fatal("client from Client() rejected")
	}
	c2 := secretsmanager.NewFromConfig(srv.Config())
	out := ok(c2.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")}))(t)
	if aws.ToString(out.SecretString) != "v1" {
		t.Fatal("client from Config() failed")
	}
	// The default credentials are not accepted by this server.
	r := do(t, signedRequest(t, srv, "GetSecretValue", getBody, signOpts{}))
	wantRaw(t, r, 400, "UnrecognizedClientException")
}

func TestProtocolErrors(t *testing.T) {
	srv, _ := newServer(t)
	srv.CreateSecret("db", "v1")
	cases := []struct {
		name, op, body string
		code           string
	}{
		{"unknown operation", "FlyToTheMoon", `{}`, "UnknownOperationException"},
		{"operation not emulated", "PutResourcePolicy", `{"SecretId":"db"}`, "UnknownOperationException"},
		{"bad JSON", "GetSecretValue", `{"SecretId":`, "SerializationException"},
		{"wrong member type", "GetSecretValue", `{"SecretId":42}`, "SerializationException"},
		{"bad base64", "CreateSecret", `{"Name":"b","SecretBinary":"***"}`, "SerializationException"},
		{"missing SecretId", "GetSecretValue", `{}`, "ValidationException"},
		{"missing Name", "CreateSecret", `{"SecretString":"x"}`, "ValidationException"},
		{"missing VersionStage", "UpdateSecretVersionStage", `{"SecretId":"db"}`, "ValidationException"},
		{"short VersionId", "GetSecretValue", `{"SecretId":"db","VersionId":"v1"}`, "ValidationException"},
		{"MaxResults range", "ListSecrets", `{"MaxResults":1000}`, "ValidationException"},
		{"bad filter key", "ListSecrets", `{"Filters":[{"Key":"color","Values":["x"]}]}`, "ValidationException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, signedRequest(t, srv, tc.op, tc.body, signOpts{}))
			wantRaw(t, r, 400, tc.code)
			if r.Message == "" {
				t.Fatal("no Message")
			}
		})
	}
	t.Run("missing target", func(t *testing.T) {
		wantRaw(t, do(t, signedRequest(t, srv, "", `{}`, signOpts{})), 400, "UnknownOperationException")
	})
	t.Run("response headers", func(t *testing.T) {
		resp, err := http.DefaultClient.Do(signedRequest(t, srv, "DescribeSecret", getBody, signOpts{}))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Fatalf("Content-Type %q", ct)
		}
		if resp.Header.Get("X-Amzn-RequestId") == "" {
			t.Fatal("no X-Amzn-RequestId")
		}
	})
	if got := srv.Calls("FlyToTheMoon"); got != 1 {
		t.Fatalf("Calls(FlyToTheMoon) = %d", got)
	}
}
