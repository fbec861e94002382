package smtest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/secretsql/secretsql/smtest"
)

func newServer(t *testing.T, opts ...smtest.Option) (*smtest.Server, *secretsmanager.Client) {
	t.Helper()
	srv := smtest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv, srv.Client()
}

// wantErr asserts that err is (or wraps) an error of type T and returns it.
func wantErr[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if err == nil {
		t.Fatalf("got no error, want %T", target)
	}
	if !errors.As(err, &target) {
		t.Fatalf("got error %v (%T), want %T", err, err, target)
	}
	return target
}

// wantCode asserts that err is an AWS API error with the given code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v (%T), want API error %s", err, err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got error code %s (%v), want %s", ae.ErrorCode(), err, code)
	}
}

func httpStatus(t *testing.T, err error) int {
	t.Helper()
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no HTTP response", err)
	}
	return re.HTTPStatusCode()
}

// ok returns v after checking err: out := ok(client.Op(ctx, in))(t).
func ok[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func get(t *testing.T, c *secretsmanager.Client, in *secretsmanager.GetSecretValueInput) *secretsmanager.GetSecretValueOutput {
	t.Helper()
	return ok(c.GetSecretValue(t.Context(), in))(t)
}

func getString(t *testing.T, c *secretsmanager.Client, id string) string {
	t.Helper()
	out := get(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	return aws.ToString(out.SecretString)
}

// rawResponse is a decoded response to a hand-made request.
type rawResponse struct {
	Status    int
	ErrorType string // X-Amzn-ErrorType header
	Type      string `json:"__type"`
	Message   string `json:"Message"`
	Body      []byte
}

type signOpts struct {
	accessKeyID, secretAccessKey string
	region, service              string
	at                           time.Time
}

// signedRequest builds a request for op with body, signed like the SDK
// signs it (defaults: the server's credentials, region and the current
// time).
func signedRequest(t *testing.T, srv *smtest.Server, op, body string, o signOpts) *http.Request {
	t.Helper()
	if o.region == "" {
		o.region = srv.Region
	}
	return signedRequestTo(t, srv.URL, op, body, o)
}

// signedRequestTo is signedRequest for any endpoint (default credentials:
// smtest's defaults).
func signedRequestTo(t *testing.T, endpoint, op, body string, o signOpts) *http.Request {
	t.Helper()
	if o.accessKeyID == "" {
		o.accessKeyID, o.secretAccessKey = smtest.DefaultAccessKeyID, smtest.DefaultSecretAccessKey
	}
	if o.service == "" {
		o.service = "secretsmanager"
	}
	if o.at.IsZero() {
		o.at = time.Now()
	}
	req := unsignedRequestTo(t, endpoint, op, body)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: o.accessKeyID, SecretAccessKey: o.secretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), o.service, o.region, o.at); err != nil {
		t.Fatal(err)
	}
	return req
}

func unsignedRequest(t *testing.T, srv *smtest.Server, op, body string) *http.Request {
	t.Helper()
	return unsignedRequestTo(t, srv.URL, op, body)
}

func unsignedRequestTo(t *testing.T, endpoint, op, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint+"/", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if op != "" {
		req.Header.Set("X-Amz-Target", "secretsmanager."+op)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	return req
}

func do(t *testing.T, req *http.Request) rawResponse {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := rawResponse{Status: resp.StatusCode, ErrorType: resp.Header.Get("X-Amzn-ErrorType"), Body: body}
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("error body %q is not JSON: %v", body, err)
		}
		if r.Type != r.ErrorType {
			t.Errorf("__type %q != X-Amzn-ErrorType %q", r.Type, r.ErrorType)
		}
	}
	return r
}

func wantRaw(t *testing.T, r rawResponse, status int, code string) {
	t.Helper()
	if r.Status != status || r.Type != code {
		t.Fatalf("got %d %s (%s), want %d %s", r.Status, r.Type, r.Body, status, code)
	}
}
