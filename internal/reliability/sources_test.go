package reliability

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/mototest"
	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// agentEnv points the agent source at a: its token in AWS_TOKEN (the first
// variable the agent and secretsql read), the others cleared.
func agentEnv(t *testing.T, token string) {
	t.Setenv("AWS_TOKEN", token)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "")
}

// TestAgentRotation: 50 workers query PostgreSQL through the agent front
// (TTL 300 s) during a single-user rotation holding setSecret→finishSecret
// open for 2 s. No query fails, and the agent's reads that reach Secrets
// Manager during the rotation are at most two (AWSPENDING, then
// AWSCURRENT, with refreshNow).
func TestAgentRotation(t *testing.T) {
	tdb := testdb.Postgres(t)
	srv := newSM(t)
	agent := smtest.NewAgent(srv, smtest.WithAgentTTL(300*time.Second))
	defer agent.Close()
	agentEnv(t, agent.Token)
	name := uniqueName(t)
	srv.CreateSecret(name, tdb.SecretJSON())
	var ev events
	db, _ := openChurningPool(t, name+"?source=agent&agent="+agent.Addr, secretsql.WithObserver(ev.observe))
	l := testdb.StartLoad(50, testdb.SelectOne(db))
	time.Sleep(300 * time.Millisecond)
	sm := &countingSM{SecretsManager: srv.Client()}
	before := srv.SecretCalls(getOp, name)
	rot := &rotation.Rotator{Client: sm, DB: tdb, Hook: func(ctx context.Context, next rotation.Step) error {
		if next == rotation.FinishSecret {
			time.Sleep(2 * time.Second)
		}
		return nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := rot.Rotate(ctx, name); err != nil {
		l.Stop()
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	failures := l.Stop()
	agentReads := int64(srv.SecretCalls(getOp, name)-before) - sm.gets.Load()
	t.Logf("agent source, 50 workers, 2 s window: %d queries, %d failed, %d reads by the agent from Secrets Manager during the rotation, %d AWSPENDING adoptions",
		l.Queries(), len(failures), agentReads, ev.count(secretsql.EventPendingAdopted))
	for _, f := range failures {
		t.Errorf("query failed: %v", f.Err)
	}
	if agentReads < 1 || agentReads > 2 {
		t.Errorf("the agent read the secret %d times from Secrets Manager during the rotation, want 1 or 2", agentReads)
	}
	if err := tdb.Login(context.Background(), tdb.User, tdb.Password); err == nil {
		t.Error("the old password still logs in: the rotation did not change it")
	}
}

// TestAgentSharedByManyProcesses: 100 processes' worth of Connectors (each
// with a cache of its own) behind one agent: Secrets Manager sees the
// agent's one read per TTL, not 100.
func TestAgentSharedByManyProcesses(t *testing.T) {
	srv := newSM(t)
	agent := smtest.NewAgent(srv, smtest.WithAgentTTL(300*time.Second))
	defer agent.Close()
	agentEnv(t, agent.Token)
	name := uniqueName(t)
	srv.CreateSecret(name, `{"engine":"postgres","host":"db.internal","username":"app","password":"AgentShared1"}`)
	var conns []*secretsql.Connector
	for range 100 {
		cache := secretsql.NewCache()
		defer cache.Close()
		c, err := secretsql.NewConnector("postgres", name+"?source=agent&agent="+agent.Addr, secretsql.WithCache(cache))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for round := range 3 {
		for _, c := range conns {
			if _, err := c.Resolve(context.Background()); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	if n := srv.SecretCalls(getOp, name); n != 1 {
		t.Errorf("100 caches behind one agent: %d GetSecretValue calls, want 1 (the agent's)", n)
	}
	t.Logf("100 caches behind one agent: %d agent requests (first reads), %d GetSecretValue calls to Secrets Manager",
		agent.Requests(), srv.SecretCalls(getOp, name))
}

// TestAgentErrors: every answer of the agent maps to a typed error with a
// hint.
func TestAgentErrors(t *testing.T) {
	srv := newSM(t)
	agent := smtest.NewAgent(srv, smtest.WithAgentTTL(0))
	defer agent.Close()
	name := uniqueName(t)
	srv.CreateSecret(name, `{"engine":"postgres","host":"db.internal","username":"app","password":"AgentErr1"}`)
	read := func(dsn string) error {
		t.Helper()
		c, err := secretsql.NewConnector("postgres", dsn, secretsql.WithCache(secretsql.NewCache()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Resolve(context.Background())
		return err
	}
	dsn := name + "?source=agent&agent=" + agent.Addr
	unread := uniqueName(t)
	srv.CreateSecret(unread, `{"engine":"postgres","host":"db.internal","username":"app","password":"AgentErr2"}`)
	notAgent := httptest.NewServer(http.NotFoundHandler())
	defer notAgent.Close()
	tokenFile := filepath.Join(t.TempDir(), "awssmatoken")
	if err := os.WriteFile(tokenFile, []byte(agent.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	agentEnv(t, "file://"+tokenFile)
	if err := read(dsn); err != nil {
		t.Fatalf("token from a file: %v", err)
	}
	agentEnv(t, "")
	t.Setenv("AWS_SESSION_TOKEN", agent.Token)
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "fn") // AWS_SESSION_TOKEN is the token in Lambda only
	if err := read(dsn); err != nil {
		t.Fatalf("token from AWS_SESSION_TOKEN: %v", err)
	}
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")

	for _, tc := range []struct {
		name  string
		setup func()
		dsn   string
		want  error
		hint  string
	}{
		{"wrong token", func() { agentEnv(t, "not-the-token") }, dsn, secretsql.ErrSecretsManager, "AWS_TOKEN"},
		{"no token", func() { agentEnv(t, "") }, dsn, secretsql.ErrSecretsManager, "none of AWS_TOKEN"},
		{"not found", func() { agentEnv(t, agent.Token) }, "no/such?source=agent&agent=" + agent.Addr, secretsql.ErrSecretNotFound, "secret id"},
		{"denied", func() { srv.Deny(name) }, dsn, secretsql.ErrAccessDenied, "GetSecretValue"},
		// A secret the agent has not cached: it must ask Secrets Manager.
		{"Secrets Manager down", func() { srv.Allow(); srv.Outage() }, unread + "?source=agent&agent=" + agent.Addr, secretsql.ErrSecretsManager, "could not reach Secrets Manager"},
		{"agent down", func() { srv.Restore(); agent.Down() }, dsn, secretsql.ErrSecretsManager, "is the Secrets Manager Agent (or the Lambda extension) running on " + agent.Addr},
		{"not an agent", func() { agent.Up() }, name + "?source=agent&agent=" + strings.TrimPrefix(notAgent.URL, "http://"), secretsql.ErrSecretsManager, "the Secrets Manager Agent?"},
	} {
		tc.setup()
		err := read(tc.dsn)
		var fe *secretsql.FetchError
		if !errors.Is(err, tc.want) || !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.hint) {
			t.Errorf("%s: %v, want %v with %q", tc.name, err, tc.want, tc.hint)
		}
		if err != nil && strings.Contains(err.Error(), agent.Token) {
			t.Errorf("%s: the error shows the token: %v", tc.name, err)
		}
	}
}

// replicated creates a secret in srv's primary region with a replica in
// region, through the API.
func replicated(t *testing.T, client *secretsmanager.Client, name, value, region string) string {
	t.Helper()
	out, err := client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(value),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(region)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// TestFailoverToReplica: a cold start during an outage of the primary
// region connects through the replica (0 failed connects); an answer of the
// primary such as AccessDenied does not fail over; once the primary
// answers again, reads go back to it.
func TestFailoverToReplica(t *testing.T) {
	tdb := testdb.Postgres(t)
	srv := smtest.NewServer(smtest.WithRegions("us-west-2"))
	defer srv.Close()
	name := uniqueName(t)
	arn := replicated(t, srv.Client(), name, tdb.SecretJSON(), "us-west-2")
	runFailover(t, failoverBed{
		dsn:     arn + "?failover_region=us-west-2",
		options: []secretsql.Option{secretsql.WithClient(srv.Client())},
		outage:  func(on bool) { regionOutage(srv, "us-east-1", on) },
		deny:    func() { srv.FailNextIn("us-east-1", getOp, 1, "AccessDeniedException") },
		primaryCalls: func() int {
			return srv.CallsIn("us-east-1", getOp)
		},
	})
}

// TestFailoverFromAgent: with source=agent, the failover reads the API in
// the replica region when the agent cannot reach Secrets Manager.
func TestFailoverFromAgent(t *testing.T) {
	tdb := testdb.Postgres(t)
	srv := smtest.NewServer(smtest.WithRegions("us-west-2"))
	defer srv.Close()
	agent := smtest.NewAgent(srv, smtest.WithAgentTTL(0))
	defer agent.Close()
	agentEnv(t, agent.Token)
	name := uniqueName(t)
	arn := replicated(t, srv.Client(), name, tdb.SecretJSON(), "us-west-2")
	runFailover(t, failoverBed{
		dsn:          arn + "?source=agent&agent=" + agent.Addr + "&failover_region=us-west-2",
		options:      []secretsql.Option{secretsql.WithClient(srv.Client())},
		outage:       func(on bool) { regionOutage(srv, "us-east-1", on) },
		deny:         func() { srv.FailNextIn("us-east-1", getOp, 1, "AccessDeniedException") },
		primaryCalls: func() int { return srv.CallsIn("us-east-1", getOp) },
	})
}

func regionOutage(srv *smtest.Server, region string, on bool) {
	if on {
		srv.RegionOutage(region)
	} else {
		srv.RegionRestore(region)
	}
}

// TestFailoverToReplicaMoto is the same scenario against moto's server,
// an implementation of replica secrets nobody here wrote. Its regions share
// one endpoint, so the outage of the primary region is a network fault
// injected under the SDK: requests signed for us-east-1 get no answer.
func TestFailoverToReplicaMoto(t *testing.T) {
	tdb := testdb.Postgres(t)
	url := mototest.Start(t)
	fault := &regionFault{region: "us-east-1", next: http.DefaultTransport}
	cfg := aws.Config{
		Region:           "us-east-1",
		Credentials:      aws.NewCredentialsCache(staticCreds{}),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: fault},
	}
	setup := secretsmanager.NewFromConfig(cfg)
	name := uniqueName(t)
	arn := replicated(t, setup, name, tdb.SecretJSON(), "us-west-2")
	var denials atomic.Int64
	runFailover(t, failoverBed{
		dsn:          arn + "?failover_region=us-west-2",
		options:      []secretsql.Option{secretsql.WithAWSConfig(cfg)},
		outage:       func(on bool) { fault.down.Store(on) },
		deny:         func() { fault.deny.Store(true); denials.Add(1) },
		primaryCalls: func() int { return int(fault.primary.Load()) },
	})
}

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDMOTO", SecretAccessKey: "moto-secret", Source: "test"}, nil
}

// regionFault fails the requests signed for region: with no answer while
// down, once with a 400 AccessDeniedException when deny is set.
type regionFault struct {
	region  string
	next    http.RoundTripper
	down    atomic.Bool
	deny    atomic.Bool
	primary atomic.Int64 // GetSecretValue requests for region that went through
}

var errNoRoute = errors.New("injected: no route to the region's endpoint")

func (f *regionFault) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.Contains(r.Header.Get("Authorization"), "/"+f.region+"/secretsmanager/") {
		return f.next.RoundTrip(r)
	}
	if f.down.Load() {
		return nil, errNoRoute
	}
	if f.deny.CompareAndSwap(true, false) {
		return &http.Response{StatusCode: 400, Status: "400 Bad Request", Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Errortype": {"AccessDeniedException"}},
			Body:   http.NoBody}, nil
	}
	if r.Header.Get("X-Amz-Target") == "secretsmanager.GetSecretValue" {
		f.primary.Add(1)
	}
	return f.next.RoundTrip(r)
}

// failoverBed is one Secrets Manager implementation for runFailover.
type failoverBed struct {
	dsn          string
	options      []secretsql.Option
	outage       func(on bool)
	deny         func() // the next GetSecretValue in the primary answers AccessDenied
	primaryCalls func() int
}

func runFailover(t *testing.T, b failoverBed) {
	t.Helper()
	var mu sync.Mutex
	var failovers []secretsql.Event
	open := func() (*sql.DB, *secretsql.Cache) {
		cache := secretsql.NewCache() // a cold start: nothing cached
		opts := append(append([]secretsql.Option(nil), b.options...), secretsql.WithCache(cache),
			secretsql.WithObserver(func(ev secretsql.Event) {
				if ev.Kind == secretsql.EventFailover {
					mu.Lock()
					failovers = append(failovers, ev)
					mu.Unlock()
				}
			}))
		c, err := secretsql.NewConnector("postgres", b.dsn, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return sql.OpenDB(c), cache
	}

	// A cold start while the primary region is out: 20 concurrent
	// connects, all through the replica.
	b.outage(true)
	db, cache := open()
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := ping(db, 20*time.Second); err != nil {
				failed.Add(1)
				t.Errorf("connect during the primary's outage: %v", err)
			}
		})
	}
	wg.Wait()
	db.Close()
	cache.Close()
	mu.Lock()
	n := len(failovers)
	region := ""
	if n > 0 {
		region = failovers[0].Region
	}
	mu.Unlock()
	if n == 0 || region != "us-west-2" {
		t.Errorf("%d failover events (region %q), want some from us-west-2", n, region)
	}
	t.Logf("cold start during the primary's outage: 20 connects, %d failed, %d failover event(s)", failed.Load(), n)

	// An answer of the primary is not an outage: no failover.
	b.outage(false)
	b.deny()
	db, cache = open()
	err := ping(db, 20*time.Second)
	db.Close()
	cache.Close()
	if !errors.Is(err, secretsql.ErrAccessDenied) {
		t.Errorf("AccessDenied in the primary: %v, want ErrAccessDenied without failover", err)
	}
	mu.Lock()
	if len(failovers) != n {
		t.Errorf("AccessDenied in the primary failed over")
	}
	mu.Unlock()

	// The primary answers again: reads go to it.
	before := b.primaryCalls()
	db, cache = open()
	defer cache.Close()
	defer db.Close()
	if err := ping(db, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if b.primaryCalls() == before {
		t.Error("after the outage, the read did not go to the primary region")
	}
	mu.Lock()
	if len(failovers) != n {
		t.Errorf("failed over with the primary up")
	}
	mu.Unlock()
}
