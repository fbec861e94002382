package smtest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretsql/secretsql/smtest"
)

// agentClient never goes through a proxy and keeps no connection between
// tests.
var agentClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

type agentReply struct {
	status int
	body   string
	header http.Header
}

// agentDo sends method path to the agent with the given headers ("token"
// stands for the agent's token header with its token).
func agentDo(ctx context.Context, t *testing.T, a *smtest.Agent, method, path string, headers ...string) agentReply {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		if h == "token" {
			req.Header.Set(smtest.AgentTokenHeader, a.Token)
			continue
		}
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := agentClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return agentReply{resp.StatusCode, string(b), resp.Header}
}

func agentGet(t *testing.T, a *smtest.Agent, path string) agentReply {
	t.Helper()
	return agentDo(t.Context(), t, a, http.MethodGet, path, "token")
}

func wantReply(t *testing.T, r agentReply, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Fatalf("got %d %q, want %d %q", r.status, r.body, status, body)
	}
}

// agentSecret decodes a 200 answer.
type agentSecret struct {
	ARN           string
	Name          string
	VersionID     string `json:"VersionId"`
	SecretString  *string
	SecretBinary  *string
	VersionStages []string
	CreatedDate   any
}

func agentValue(t *testing.T, a *smtest.Agent, path string) agentSecret {
	t.Helper()
	r := agentGet(t, a, path)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var v agentSecret
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("GET %s: %q: %v", path, r.body, err)
	}
	return v
}

func agentString(t *testing.T, a *smtest.Agent, path string) string {
	t.Helper()
	v := agentValue(t, a, path)
	if v.SecretString == nil {
		t.Fatalf("GET %s: no SecretString", path)
	}
	return *v.SecretString
}

// regexpEpoch matches the agent's CreatedDate: epoch seconds, to the
// millisecond.
var regexpEpoch = regexp.MustCompile(`^[0-9]{10}(\.[0-9]{1,3})?$`)

func newAgent(t *testing.T, srv *smtest.Server, opts ...smtest.AgentOption) *smtest.Agent {
	t.Helper()
	a := smtest.NewAgent(srv, opts...)
	t.Cleanup(a.Close)
	return a
}

func TestAgentRequests(t *testing.T) {
	srv, _ := newServer(t)
	arn := srv.CreateSecret("prod/db", `{"password":"pw"}`)
	srv.CreateBinarySecret("bin", []byte{0, 1, 2})
	srv.Deny("denied")
	a := newAgent(t, srv, smtest.WithAgentToken("tok"))
	if a.Token != "tok" || !strings.HasPrefix(a.URL, "http://127.0.0.1:") || a.Region != srv.Region {
		t.Fatalf("agent %+v", a)
	}
	ctx := t.Context()
	get := "/secretsmanager/get?secretId=prod%2Fdb"
	for _, tc := range []struct {
		name, method, path string
		headers            []string
		status             int
		body               string
	}{
		{"ping without token", "GET", "/ping", nil, 200, "healthy"},
		{"ping with POST", "POST", "/ping", nil, 405, "Not allowed"},
		{"no token", "GET", get, nil, 403, "Bad Token"},
		{"wrong token", "GET", get, []string{smtest.AgentTokenHeader + ": nope"}, 403, "Bad Token"},
		{"token in another header", "GET", get, []string{"X-Other-Token: tok"}, 403, "Bad Token"},
		{"forwarded", "GET", get, []string{"token", "X-Forwarded-For: 10.0.0.1"}, 400, "Forwarded"},
		{"POST with token", "POST", get, []string{"token"}, 405, "Not allowed"},
		{"POST without token", "POST", get, nil, 403, "Bad Token"},
		{"other path", "GET", "/secretsmanager/put", []string{"token"}, 404, "Not found"},
		{"root", "GET", "/", []string{"token"}, 404, "Not found"},
		{"missing secretId", "GET", "/secretsmanager/get?versionStage=AWSCURRENT", []string{"token"}, 400, "missing parameter secretId"},
		{"empty secretId", "GET", "/secretsmanager/get?secretId=", []string{"token"}, 400, "missing parameter secretId"},
		{"unknown parameter", "GET", get + "&foo=1", []string{"token"}, 400, "unknown parameter: foo"},
		{"bad refreshNow", "GET", get + "&refreshNow=yes", []string{"token"}, 400, "invalid refreshNow value"},
		{"path style without ID", "GET", "/v1/", []string{"token"}, 400, "missing secret ID"},
		{"secretId in path style", "GET", "/v1/prod/db?secretId=x", []string{"token"}, 400, "unknown parameter: secretId"},
		{"not found", "GET", "/secretsmanager/get?secretId=missing", []string{"token"}, 400,
			`{"__type":"ResourceNotFoundException", "message":"Secrets Manager can't find the specified secret."}`},
		{"path style, encoded slash not decoded", "GET", "/v1/prod%2Fdb", []string{"token"}, 400,
			`{"__type":"ResourceNotFoundException", "message":"Secrets Manager can't find the specified secret."}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantReply(t, agentDo(ctx, t, a, tc.method, tc.path, tc.headers...), tc.status, tc.body)
		})
	}

	// Values: query and path styles, both token headers, ARN.
	r := agentDo(ctx, t, a, "GET", get, smtest.AgentVaultTokenHeader+": tok")
	if r.status != 200 || r.header.Get("Content-Type") != "" {
		t.Fatalf("X-Vault-Token: %d %q, Content-Type %q", r.status, r.body, r.header.Get("Content-Type"))
	}
	v := agentValue(t, a, get)
	if v.ARN != arn || v.Name != "prod/db" || *v.SecretString != `{"password":"pw"}` || v.SecretBinary != nil ||
		len(v.VersionStages) != 1 || v.VersionStages[0] != "AWSCURRENT" || v.VersionID == "" {
		t.Fatalf("value %+v", v)
	}
	// CreatedDate is a string of epoch seconds, as the agent writes it.
	if s, ok := v.CreatedDate.(string); !ok || !regexpEpoch.MatchString(s) {
		t.Fatalf("CreatedDate %#v", v.CreatedDate)
	}
	for _, path := range []string{"/v1/prod/db", "/v1/prod/db?versionStage=AWSCURRENT", "/secretsmanager/get?secretId=" + url.QueryEscape(arn),
		"/secretsmanager/get?secretId=prod/db&versionId=" + v.VersionID + "&refreshNow=0"} {
		if got := agentValue(t, a, path); got.VersionID != v.VersionID {
			t.Fatalf("GET %s: %+v", path, got)
		}
	}
	b := agentValue(t, a, "/v1/bin")
	if b.SecretString != nil || b.SecretBinary == nil || *b.SecretBinary != base64.StdEncoding.EncodeToString([]byte{0, 1, 2}) {
		t.Fatalf("binary %+v", b)
	}

	// Secrets Manager's errors come back with its status and code.
	wantReply(t, agentGet(t, a, "/v1/prod/db?versionStage=NOPE"), 400,
		`{"__type":"ResourceNotFoundException", "message":"Secrets Manager can't find the specified secret value for staging label: NOPE"}`)
	if r := agentGet(t, a, "/v1/denied"); r.status != 400 || !strings.HasPrefix(r.body, `{"__type":"AccessDeniedException", "message":"User: `) {
		t.Fatalf("denied: %d %s", r.status, r.body)
	}
	srv.FailNext("GetSecretValue", 1, "InternalServiceError")
	if r := agentGet(t, a, get+"&refreshNow=true"); r.status != 500 || !strings.HasPrefix(r.body, `{"__type":"InternalServiceError", "message":`) {
		t.Fatalf("injected 500: %d %s", r.status, r.body)
	}
	srv.FailNext("GetSecretValue", 1, "ThrottlingException")
	wantReply(t, agentGet(t, a, get+"&refreshNow=true"), 400, `{"__type":"ThrottlingException", "message":"Rate exceeded"}`)
	if a.Requests() == 0 {
		t.Fatal("Requests() = 0")
	}
}

func TestAgentCache(t *testing.T) {
	srv, _ := newServer(t)
	srv.CreateSecret("db", "v1")
	a := newAgent(t, srv, smtest.WithAgentTTL(time.Hour))
	calls := func(want int) {
		t.Helper()
		if n := srv.Calls("GetSecretValue"); n != want {
			t.Fatalf("GetSecretValue calls = %d, want %d", n, want)
		}
	}

	// Two reads within the TTL: one call.
	for range 2 {
		if s := agentString(t, a, "/v1/db"); s != "v1" {
			t.Fatalf("got %q", s)
		}
	}
	calls(1)
	// Another key (a stage, the query style's ID) is another cache entry.
	agentString(t, a, "/v1/db?versionStage=AWSCURRENT")
	calls(2)
	agentString(t, a, "/secretsmanager/get?secretId=db")
	calls(2) // the same key as /v1/db

	// A rotation is not seen until refreshNow=true, which refreshes the
	// entry for later reads too.
	srv.PutSecretString("db", "v2")
	if s := agentString(t, a, "/v1/db"); s != "v1" {
		t.Fatalf("within the TTL got %q, want the cached v1", s)
	}
	if s := agentString(t, a, "/v1/db?refreshNow=true"); s != "v2" {
		t.Fatalf("refreshNow got %q", s)
	}
	calls(3)
	if s := agentString(t, a, "/v1/db"); s != "v2" {
		t.Fatalf("after refreshNow got %q", s)
	}
	calls(3)
	if s := agentString(t, a, "/v1/db?versionStage=AWSPREVIOUS&refreshNow=TRUE"); s != "v1" {
		t.Fatalf("AWSPREVIOUS got %q", s)
	}
	calls(4)
	a.ResetCache()
	agentString(t, a, "/v1/db")
	calls(5)
	if srv.Calls("DescribeSecret") != 0 {
		t.Fatal("DescribeSecret called within the TTL")
	}
}

// ttl is the TTL of the agents whose cache expires in tests.
const ttl = time.Millisecond

// sleepPast waits until the TTL has certainly passed.
func sleepPast(d time.Duration) { time.Sleep(d + 5*time.Millisecond) }

// expiringAgent is an agent with a TTL of ttl in front of a server with
// secret "db" = "v1", which the agent has read and cached.
func expiringAgent(t *testing.T) (*smtest.Server, *smtest.Agent) {
	t.Helper()
	srv, _ := newServer(t)
	srv.CreateSecret("db", "v1")
	a := newAgent(t, srv, smtest.WithAgentTTL(ttl))
	agentString(t, a, "/v1/db")
	return srv, a
}

// wantSMCalls checks how many GetSecretValue and DescribeSecret calls srv
// received.
func wantSMCalls(t *testing.T, srv *smtest.Server, get, describe int) {
	t.Helper()
	if g, d := srv.Calls("GetSecretValue"), srv.Calls("DescribeSecret"); g != get || d != describe {
		t.Fatalf("GetSecretValue %d, DescribeSecret %d; want %d, %d", g, d, get, describe)
	}
}

func TestAgentCacheExpiry(t *testing.T) {
	srv, a := expiringAgent(t)

	// Expired and unchanged: DescribeSecret says the cached version is
	// still AWSCURRENT, no GetSecretValue.
	sleepPast(ttl)
	if s := agentString(t, a, "/v1/db"); s != "v1" {
		t.Fatalf("got %q", s)
	}
	wantSMCalls(t, srv, 1, 1)
	// Expired and rotated: read again.
	srv.PutSecretString("db", "v2")
	sleepPast(ttl)
	if s := agentString(t, a, "/v1/db"); s != "v2" {
		t.Fatalf("after rotation got %q", s)
	}
	wantSMCalls(t, srv, 2, 2)

	// TTL 0: every read asks Secrets Manager.
	b := newAgent(t, srv, smtest.WithAgentTTL(0))
	srv.ResetCalls()
	for range 3 {
		agentString(t, b, "/v1/db")
	}
	wantSMCalls(t, srv, 1, 2)
}

func TestAgentTransientErrors(t *testing.T) {
	srv, a := expiringAgent(t)
	srv.PutSecretString("db", "v2")

	// The refresh fails transiently: the cached value is served.
	for _, code := range []string{"InternalServiceError", "ServiceUnavailable"} {
		sleepPast(ttl)
		srv.FailNext("GetSecretValue", 1, code)
		if s := agentString(t, a, "/v1/db"); s != "v1" {
			t.Fatalf("%s: got %q, want the cached v1", code, s)
		}
	}
	sleepPast(ttl)
	srv.FailNext("DescribeSecret", 1, "InternalFailure")
	if s := agentString(t, a, "/v1/db"); s != "v1" {
		t.Fatalf("DescribeSecret failed: got %q, want the cached v1", s)
	}
	sleepPast(ttl)
	srv.Outage()
	if s := agentString(t, a, "/v1/db"); s != "v1" {
		t.Fatalf("outage: got %q, want the cached v1", s)
	}
	srv.Restore()
	// A 4xx is no transient error: it is answered.
	sleepPast(ttl)
	srv.FailNext("GetSecretValue", 1, "ThrottlingException")
	if r := agentGet(t, a, "/v1/db"); r.status != 400 || !strings.Contains(r.body, "ThrottlingException") {
		t.Fatalf("throttled refresh: %d %s", r.status, r.body)
	}
	// And the next refresh succeeds.
	sleepPast(ttl)
	if s := agentString(t, a, "/v1/db"); s != "v2" {
		t.Fatalf("after the failures got %q", s)
	}
	// Without a cached value a transient error is answered.
	srv.FailNext("GetSecretValue", 1, "InternalServiceError")
	if r := agentGet(t, a, "/v1/db?refreshNow=true"); r.status != 500 {
		t.Fatalf("refreshNow during a 500: %d %s", r.status, r.body)
	}
}

func TestAgentUnavailableSecretsManager(t *testing.T) {
	srv, _ := newServer(t)
	srv.CreateSecret("db", "v1")
	a := newAgent(t, srv, smtest.WithAgentTimeout(100*time.Millisecond))

	srv.Outage()
	wantReply(t, agentGet(t, a, "/v1/db"), 502, `{"__type":"ConnectionError", "message":"Read Error"}`)
	srv.Restore()

	srv.RegionOutage(srv.Region)
	wantReply(t, agentGet(t, a, "/v1/db"), 502, `{"__type":"ConnectionError", "message":"Read Error"}`)
	srv.RegionRestore(srv.Region)

	srv.SetLatency("GetSecretValue", time.Minute) // abandoned when the agent gives up
	wantReply(t, agentGet(t, a, "/v1/db"), 504, `{"__type":"TimeoutError", "message":"Timeout"}`)
	srv.SetLatency("GetSecretValue", 0)

	if s := agentString(t, a, "/v1/db"); s != "v1" {
		t.Fatalf("after recovery got %q", s)
	}
}

func TestAgentDownUp(t *testing.T) {
	srv, _ := newServer(t)
	srv.CreateSecret("db", "v1")
	a := newAgent(t, srv)
	agentString(t, a, "/v1/db")
	addr := a.Addr

	a.Down()
	a.Down() // idempotent
	req, _ := http.NewRequestWithContext(t.Context(), "GET", a.URL+"/ping", nil)
	if _, err := agentClient.Do(req); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("while down: %v, want connection refused", err)
	}
	a.Up()
	a.Up() // idempotent
	if a.Addr != addr {
		t.Fatalf("address changed from %s to %s", addr, a.Addr)
	}
	if s := agentString(t, a, "/v1/db"); s != "v1" {
		t.Fatalf("after Up got %q", s)
	}
	if n := srv.Calls("GetSecretValue"); n != 1 {
		t.Fatalf("GetSecretValue calls = %d, want 1 (the cache outlives Down)", n)
	}
	if n := a.Requests(); n != 2 {
		t.Fatalf("Requests() = %d, want 2", n)
	}
	a.Close()
	a.Close() // idempotent
	a.Up()    // does nothing once closed
}

func TestAgentConnectionLimit(t *testing.T) {
	srv, _ := newServer(t)
	srv.CreateSecret("db", "v1")
	a := newAgent(t, srv, smtest.WithAgentMaxConns(1))
	srv.SetLatency("GetSecretValue", time.Minute)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", a.URL+"/v1/db", nil)
		req.Header.Set(smtest.AgentTokenHeader, a.Token)
		resp, err := agentClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	// Once the first request waits on Secrets Manager, it holds the only
	// place.
	waitFor(t, 5*time.Second, func() bool { return srv.Calls("GetSecretValue") == 1 })
	wantReply(t, agentGet(t, a, "/v1/db"), 429, "Connection limit exceeded")
	wantReply(t, agentDo(t.Context(), t, a, "GET", "/ping"), 200, "healthy") // /ping has 2 more places
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("the cancelled request got %d", code)
	}
	srv.SetLatency("GetSecretValue", 0)
	waitFor(t, 5*time.Second, func() bool { return agentGet(t, a, "/v1/db").status == 200 })
}

func TestAgentRegion(t *testing.T) {
	srv, east := newServer(t, smtest.WithRegions("us-west-2"))
	out := ok(east.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("db"), SecretString: aws.String("v1"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("us-west-2")}},
	}))(t)
	srv.CreateSecret("east-only", "x")
	a := newAgent(t, srv, smtest.WithAgentRegion("us-west-2"))
	v := agentValue(t, a, "/v1/db")
	if *v.SecretString != "v1" || v.ARN != strings.Replace(*out.ARN, ":us-east-1:", ":us-west-2:", 1) {
		t.Fatalf("replica read through the agent: %+v", v)
	}
	if srv.CallsIn("us-west-2", "GetSecretValue") != 1 || srv.CallsIn("us-east-1", "GetSecretValue") != 0 {
		t.Fatal("the agent did not read us-west-2")
	}
	if r := agentGet(t, a, "/v1/east-only"); r.status != 400 || !strings.Contains(r.body, "ResourceNotFoundException") {
		t.Fatalf("secret not replicated: %d %s", r.status, r.body)
	}
}
