package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/secretsql/secretsql/smtest"
)

// exports are the variables `secretsql emulator` tells to export.
type exports map[string]string

func (e exports) pairs() [][2]string {
	var out [][2]string
	for k, v := range e {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// client is the SDK client an application gets from the exports.
func (e exports) client(transport http.RoundTripper) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:           e["AWS_REGION"],
		BaseEndpoint:     aws.String(e["AWS_ENDPOINT_URL_SECRETS_MANAGER"]),
		Credentials:      credentials.NewStaticCredentialsProvider(e["AWS_ACCESS_KEY_ID"], e["AWS_SECRET_ACCESS_KEY"], ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: transport},
	})
}

// waitFor waits until cond holds, failing the test with what failure says
// then if it does not within limit.
func waitFor(t *testing.T, limit time.Duration, cond func() bool, failure func() string) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (waited %s)", failure(), limit)
		}
	}
}

// waitForExports waits (bounded) until the emulator has printed its whole
// banner and returns the exported variables.
func waitForExports(t *testing.T, out, errOut *syncBuffer) exports {
	t.Helper()
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(out.String(), "# Ctrl-C to stop") },
		func() string { return "no environment printed:\n" + out.String() + errOut.String() })
	env := exports{}
	for _, line := range strings.Split(out.String(), "\n") {
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	return env
}

// emulator is a `secretsql emulator` running in this process until the
// test ends.
type emulator struct {
	env         exports
	out, errOut *syncBuffer
}

func startEmulator(t *testing.T, args ...string) *emulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &emulator{out: &syncBuffer{}, errOut: &syncBuffer{}}
	done := make(chan int, 1)
	go func() { done <- runContext(ctx, append([]string{"emulator"}, args...), e.out, e.errOut) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("emulator exited with %d:\n%s", code, e.errOut)
		}
	})
	e.env = waitForExports(t, e.out, e.errOut)
	return e
}

// writeSeed writes a seed file of secrets (name → JSON text).
func writeSeed(t *testing.T, secrets map[string]string) string {
	t.Helper()
	m := map[string]json.RawMessage{}
	for k, v := range secrets {
		m[k] = json.RawMessage(v)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "secrets.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tamper is an HTTP transport that changes each request after the SDK has
// signed it.
type tamper func(*http.Request)

func (f tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	f(r)
	return http.DefaultTransport.RoundTrip(r)
}

func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestEmulatorKeys(t *testing.T) {
	a := startEmulator(t, "--addr", "127.0.0.1:0")
	b := startEmulator(t, "--addr", "127.0.0.1:0")
	keyShape := regexp.MustCompile(`^AKSM[A-Z2-7]{16}$`)
	for _, e := range []*emulator{a, b} {
		if !keyShape.MatchString(e.env["AWS_ACCESS_KEY_ID"]) || len(e.env["AWS_SECRET_ACCESS_KEY"]) != 40 {
			t.Fatalf("exports %v", e.env)
		}
	}
	if a.env["AWS_ACCESS_KEY_ID"] == b.env["AWS_ACCESS_KEY_ID"] || a.env["AWS_SECRET_ACCESS_KEY"] == b.env["AWS_SECRET_ACCESS_KEY"] {
		t.Fatal("two starts printed the same keys")
	}
	// Each emulator accepts its own keys only.
	if _, err := a.env.client(http.DefaultTransport).ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{}); err != nil {
		t.Fatal(err)
	}
	mixed := exports{}
	for k, v := range a.env {
		mixed[k] = v
	}
	mixed["AWS_SECRET_ACCESS_KEY"] = b.env["AWS_SECRET_ACCESS_KEY"]
	_, err := mixed.client(http.DefaultTransport).ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{})
	if code := apiErrorCode(err); code != "InvalidSignatureException" {
		t.Fatalf("wrong secret key: %v", err)
	}

	// Chosen keys are used; the published ones are refused.
	c := startEmulator(t, "--addr", "127.0.0.1:0", "--access-key", "AKIDLAB", "--secret-key", "lab-secret")
	if c.env["AWS_ACCESS_KEY_ID"] != "AKIDLAB" || c.env["AWS_SECRET_ACCESS_KEY"] != "lab-secret" {
		t.Fatalf("exports %v", c.env)
	}
	for _, args := range [][]string{
		{"--access-key", smtest.DefaultAccessKeyID, "--secret-key", smtest.DefaultSecretAccessKey},
		{"--access-key", "AKIDLAB", "--secret-key", smtest.DefaultSecretAccessKey},
		{"--access-key", "AKIDLAB"},
	} {
		r := cli(t, nil, append([]string{"emulator", "--addr", "127.0.0.1:0"}, args...)...)
		wantCode(t, r, exitUsage)
	}
}

func TestEmulatorNonLoopbackAddress(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		r := cli(t, nil, "emulator", "--addr", addr)
		wantCode(t, r, exitUsage)
		wantContains(t, r, "--allow-remote")
	}
	e := startEmulator(t, "--addr", "0.0.0.0:0", "--allow-remote")
	if !strings.Contains(e.errOut.String(), "WARNING: listening on 0.0.0.0:") {
		t.Fatalf("no warning:\n%s", e.errOut)
	}
	if !strings.HasPrefix(e.env["AWS_ENDPOINT_URL_SECRETS_MANAGER"], "http://127.0.0.1:") {
		t.Fatalf("endpoint %s", e.env["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
	}
}

// TestEmulatorRefusals sends what the hardening is for: a request with a
// forged Host (DNS rebinding), one whose X-Amz-Target is not signed, and
// one signed with the published default keys.
func TestEmulatorRefusals(t *testing.T) {
	e := startEmulator(t, "--addr", "127.0.0.1:0", "--allow-host", "emulator.lab")
	ctx := t.Context()
	in := &secretsmanager.ListSecretsInput{}
	for _, tc := range []struct {
		name    string
		env     exports
		tamper  tamper
		code    string
		status  int
		message string // what the refusal says: the rule that refused it
	}{
		{"forged Host", e.env, func(r *http.Request) { r.Host = "attacker.example" }, "HostNotAllowedException", http.StatusMisdirectedRequest,
			`refuses requests for the host "attacker.example"`},
		// Taking x-amz-target out of SignedHeaders breaks the signature too:
		// the message shows that the rule refused it first.
		{"unsigned X-Amz-Target", e.env, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-amz-target", "", 1))
		}, "InvalidSignatureException", http.StatusBadRequest, `'X-Amz-Target' must be a 'SignedHeader'`},
		{"published default keys", exports{
			"AWS_REGION": e.env["AWS_REGION"], "AWS_ENDPOINT_URL_SECRETS_MANAGER": e.env["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
			"AWS_ACCESS_KEY_ID": smtest.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY": smtest.DefaultSecretAccessKey,
		}, func(*http.Request) {}, "UnrecognizedClientException", http.StatusBadRequest, "The security token included in the request is invalid."},
	} {
		_, err := tc.env.client(tc.tamper).ListSecrets(ctx, in)
		var re interface{ HTTPStatusCode() int }
		if code := apiErrorCode(err); code != tc.code || !errors.As(err, &re) || re.HTTPStatusCode() != tc.status || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: %v, want HTTP %d %s: %s", tc.name, err, tc.status, tc.code, tc.message)
			continue
		}
		t.Logf("%s: refused: %v", tc.name, err)
	}
	// The allowed names are answered.
	if _, err := e.env.client(tamper(func(r *http.Request) { r.Host = "localhost" })).ListSecrets(ctx, in); apiErrorCode(err) != "InvalidSignatureException" {
		t.Errorf("Host localhost: %v, want it to reach the signature check", err)
	}
	if _, err := e.env.client(tamper(func(r *http.Request) { r.Host = "emulator.lab" })).ListSecrets(ctx, in); apiErrorCode(err) != "InvalidSignatureException" {
		t.Errorf("Host emulator.lab: %v, want it to reach the signature check", err)
	}
}

// TestEmulatorAgentAndRegions serves an agent and a second region, and
// reads through both as a client would from the printed variables.
func TestEmulatorAgentAndRegions(t *testing.T) {
	seed := writeSeed(t, map[string]string{"dev/app": `{"password":"pw"}`})
	e := startEmulator(t, "--addr", "127.0.0.1:0", "--seed", seed, "--agent", "127.0.0.1:0", "--regions", "us-west-2, eu-west-1")
	token, port := e.env["AWS_TOKEN"], e.env["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"]
	if token == "" || port == "" || port == "0" {
		t.Fatalf("agent exports %v", e.env)
	}
	if !strings.Contains(e.out.String(), "also serving regions us-west-2, eu-west-1") {
		t.Fatalf("no regions line:\n%s", e.out)
	}
	agentGet := func(tok string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", "http://127.0.0.1:"+port+"/secretsmanager/get?secretId=dev/app", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(smtest.AgentTokenHeader, tok)
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ SecretString string }
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v.SecretString
	}
	if code, s := agentGet(token); code != http.StatusOK || s != `{"password":"pw"}` {
		t.Fatalf("through the agent: %d %q", code, s)
	}
	if code, _ := agentGet("wrong"); code != http.StatusForbidden {
		t.Fatalf("wrong token: %d", code)
	}

	// A client configured for us-west-2 reaches that region, which has no
	// secrets until one is replicated to it.
	east := e.env.client(http.DefaultTransport)
	west := exports{}
	for k, v := range e.env {
		west[k] = v
	}
	west["AWS_REGION"] = "us-west-2"
	wc := west.client(http.DefaultTransport)
	ctx := t.Context()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String("dev/app")}
	if _, err := wc.GetSecretValue(ctx, in); apiErrorCode(err) != "ResourceNotFoundException" {
		t.Fatalf("us-west-2 before replication: %v", err)
	}
	if _, err := east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: aws.String("dev/app"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("us-west-2")}},
	}); err != nil {
		t.Fatal(err)
	}
	out, err := wc.GetSecretValue(ctx, in)
	if err != nil || aws.ToString(out.SecretString) != `{"password":"pw"}` || !strings.Contains(aws.ToString(out.ARN), ":us-west-2:") {
		t.Fatalf("replica: %v %+v", err, out)
	}

	// Bad flags are usage errors.
	for _, args := range [][]string{{"--regions", "west"}, {"--region", "west"}, {"--agent", "0.0.0.0:0"}, {"--agent", "nope"}} {
		r := cli(t, nil, append([]string{"emulator", "--addr", "127.0.0.1:0"}, args...)...)
		wantCode(t, r, exitUsage)
	}
}

// TestEmulatorRotationNetwork rotates a seeded secret that points at a
// non-loopback address of this machine (a listener that closes every
// connection): refused unless --rotation-network allows the address.
func TestEmulatorRotationNetwork(t *testing.T) {
	for _, bad := range []string{"bogus", "10.0.0.0/33", ""} {
		r := cli(t, nil, "emulator", "--addr", "127.0.0.1:0", "--rotation-network", bad)
		wantCode(t, r, exitUsage)
		wantContains(t, r, "--rotation-network")
	}
	var ip netip.Addr
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
				ip = p.Addr()
				break
			}
		}
	}
	if !ip.IsValid() {
		t.Skip("this machine has no non-loopback IPv4 address")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	port := ln.Addr().(*net.TCPAddr).Port
	seed := writeSeed(t, map[string]string{"lab/app": fmt.Sprintf(`{"engine":"mysql","host":%q,"port":%d,"username":"app","password":"pw"}`, ip, port)})

	for _, tc := range []struct {
		args    []string
		reached bool
	}{
		{nil, false},
		{[]string{"--rotation-network", "198.51.100.0/24", "--rotation-network", ip.String()}, true},
	} {
		before := accepted.Load()
		e := startEmulator(t, append([]string{"--addr", "127.0.0.1:0", "--seed", seed}, tc.args...)...)
		if _, err := e.env.client(http.DefaultTransport).RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("lab/app")}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, func() bool { return strings.Contains(e.errOut.String(), "rotation failed") },
			func() string { return "the rotation did not fail:\n" + e.errOut.String() })
		reached := accepted.Load() - before
		t.Logf("%v: %d connection(s) reached %s:%d", tc.args, reached, ip, port)
		if reached > 0 != tc.reached {
			t.Fatalf("%v: %d connection(s) reached %s:%d, want them %v:\n%s", tc.args, reached, ip, port, map[bool]string{true: "allowed", false: "refused"}[tc.reached], e.errOut)
		}
		if !tc.reached && !strings.Contains(e.errOut.String(), "--rotation-network") {
			t.Fatalf("the log does not say how to allow the address:\n%s", e.errOut)
		}
	}
}
