package secretsql

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretsql/secretsql/internal/mototest"
	"github.com/secretsql/secretsql/smtest"
)

// failoverBed is an emulator serving us-east-1 (the primary region) and
// us-west-2, a database that accepts the users of every secret, and one
// client for us-east-1 (Connectors given it have one identity).
type failoverBed struct {
	t      *testing.T
	sm     *smtest.Server
	client *secretsmanager.Client
	db     *fakeServer
	eng    testEngine
}

func newFailoverBed(t *testing.T) *failoverBed {
	sm := smtest.NewServer(smtest.WithRegions("us-west-2"))
	t.Cleanup(sm.Close)
	b := &failoverBed{t: t, sm: sm, client: sm.Client(), db: newFakeServer()}
	b.eng = testEngine{name: "fake", srv: b.db}
	return b
}

// secret creates name in region for user (whose password the database
// accepts), replicated to the regions given, and returns its ARN.
func (b *failoverBed) secret(region, name, user string, replicas ...string) string {
	b.t.Helper()
	b.db.setPassword(user, "pw-"+user)
	in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(secretJSON(user, "pw-"+user))}
	for _, r := range replicas {
		in.AddReplicaRegions = append(in.AddReplicaRegions, types.ReplicaRegionType{Region: aws.String(r)})
	}
	out, err := b.sm.ClientFor(region).CreateSecret(context.Background(), in)
	if err != nil {
		b.t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// open opens a Connector of dsn in a cache of its own (a cold start), with
// the bed's client; failovers counts its failover events.
func (b *failoverBed) open(dsn string, failovers *[]Event) *Connector {
	b.t.Helper()
	cache := NewCache()
	b.t.Cleanup(func() { cache.Close() })
	var mu sync.Mutex
	c, err := openConnector(b.eng, dsn, WithClient(b.client), WithCache(cache), WithObserver(func(ev Event) {
		if ev.Kind == EventFailover && failovers != nil {
			mu.Lock()
			*failovers = append(*failovers, ev)
			mu.Unlock()
		}
	}))
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { c.Close() })
	return c
}

// connect connects through c and returns the user it logged in as.
func connect(c *Connector) (string, error) {
	conn, err := c.Connect(context.Background())
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.(*fakeConn).c.Username, nil
}

// TestFailoverNeverServesUnrelated is finding 9 of issue 19: during an
// outage of the primary region, a secret of the same name in the failover
// region that is not the primary's replica (another host, another
// password) is never served — whether the DSN names the secret by name or
// by partial ARN, on a cold start or after the primary answered. The
// connect fails with the primary's availability error instead.
func TestFailoverNeverServesUnrelated(t *testing.T) {
	b := newFailoverBed(t)
	primary := b.secret("us-east-1", "tenant/db", "app")
	b.secret("us-west-2", "tenant/db", "mallory") // unrelated: not a replica
	partial := primary[:strings.LastIndex(primary, "-")]
	// A name that ends as an ARN's suffix does: its partial ARN looks
	// complete, and only the answer's ARN tells the replica apart.
	lookalike := b.secret("us-east-1", "tenant/db-abcdef", "app")
	b.secret("us-west-2", "tenant/db-abcdef", "mallory")
	lookalike = lookalike[:strings.LastIndex(lookalike, "-")]
	for _, tc := range []struct {
		name, dsn string
		warm      bool // the primary answered a Connector of the same identity first
	}{
		{"name, cold start", "tenant/db?region=us-east-1&failover_region=us-west-2", false},
		{"partial ARN, cold start", partial + "?failover_region=us-west-2", false},
		{"partial ARN that looks complete, cold start", lookalike + "?failover_region=us-west-2", false},
		{"name, primary answered before", "tenant/db?region=us-east-1&failover_region=us-west-2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.sm.RegionRestore("us-east-1")
			if tc.warm {
				if u, err := connect(b.open(tc.dsn, nil)); err != nil || u != "app" {
					t.Fatalf("with the primary up: %q, %v; want app", u, err)
				}
			}
			b.sm.RegionOutage("us-east-1")
			defer b.sm.RegionRestore("us-east-1")
			var failovers []Event
			u, err := connect(b.open(tc.dsn, &failovers))
			if err == nil {
				t.Fatalf("connected as %q through the failover region's unrelated secret of the same name", u)
			}
			var fe *FetchError
			if !errors.As(err, &fe) || !fe.unavailable || !errors.Is(err, ErrSecretsManager) {
				t.Errorf("error %v: want the primary's unavailability (*FetchError, ErrSecretsManager)", err)
			}
			if len(failovers) != 0 {
				t.Errorf("%d failover events", len(failovers))
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

// TestFailoverToReplicaByName: a DSN naming the secret by name fails over
// to its replica once the primary has answered (its ARN known, in the same
// process, to a Connector of the same identity), and by full ARN even on a
// cold start. A name on a cold start does not fail over: nothing tells the
// replica from another secret of the same name.
func TestFailoverToReplicaByName(t *testing.T) {
	b := newFailoverBed(t)
	arn := b.secret("us-east-1", "tenant/replicated", "app", "us-west-2")
	byName := "tenant/replicated?region=us-east-1&failover_region=us-west-2"
	byARN := arn + "?failover_region=us-west-2"

	b.sm.RegionOutage("us-east-1")
	if u, err := connect(b.open(byName, nil)); err == nil {
		t.Errorf("name, cold start: connected as %q; want the primary's error (the replica cannot be told apart)", u)
	} else if !strings.Contains(err.Error(), "full ARN") {
		t.Errorf("name, cold start: %v; want a hint to give the secret's full ARN", err)
	}
	var failovers []Event
	if u, err := connect(b.open(byARN, &failovers)); err != nil || u != "app" {
		t.Errorf("full ARN, cold start: %q, %v; want app through the replica", u, err)
	}

	b.sm.RegionRestore("us-east-1")
	if u, err := connect(b.open(byName, nil)); err != nil || u != "app" {
		t.Fatalf("with the primary up: %q, %v", u, err)
	}
	b.sm.RegionOutage("us-east-1")
	west := b.sm.CallsIn("us-west-2", get)
	if u, err := connect(b.open(byName, &failovers)); err != nil || u != "app" {
		t.Errorf("name, primary answered before: %q, %v; want app through the replica", u, err)
	}
	if b.sm.CallsIn("us-west-2", get) == west {
		t.Error("no read in the failover region")
	}
	if len(failovers) != 2 {
		t.Fatalf("%d failover events, want 2", len(failovers))
	}
	for _, ev := range failovers {
		if ev.Region != "us-west-2" {
			t.Errorf("failover event from region %q", ev.Region)
		}
	}
}

// regionDown is a transport that fails every request signed for region
// while down is set, as an unreachable regional endpoint does (moto's
// regions share one endpoint).
type regionDown struct {
	region string
	down   atomic.Bool
	next   http.RoundTripper
}

func (f *regionDown) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.down.Load() && strings.Contains(r.Header.Get("Authorization"), "/"+f.region+"/secretsmanager/") {
		return nil, errors.New("injected: the region's endpoint is unreachable")
	}
	return f.next.RoundTrip(r)
}

// TestFailoverByNameMoto is finding 9 of issue 19 against moto's server, an
// implementation of replica secrets nobody here wrote: a secret named by
// name never fails over to an unrelated secret of the same name, and fails
// over to its replica once the primary has answered.
func TestFailoverByNameMoto(t *testing.T) {
	url := mototest.Start(t)
	fault := &regionDown{region: "us-east-1", next: http.DefaultTransport}
	cfg := aws.Config{
		Region:           "us-east-1",
		Credentials:      aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKIDMOTO", "moto-secret", "")),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: fault},
	}
	db := newFakeServer()
	eng := testEngine{name: "fake", srv: db}
	create := func(region, name, user string, replicas ...string) {
		t.Helper()
		db.setPassword(user, "pw-"+user)
		in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(secretJSON(user, "pw-"+user))}
		for _, r := range replicas {
			in.AddReplicaRegions = append(in.AddReplicaRegions, types.ReplicaRegionType{Region: aws.String(r)})
		}
		if _, err := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.Region = region }).CreateSecret(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	create("us-east-1", "tenant/db", "app")
	create("us-west-2", "tenant/db", "mallory")
	create("us-east-1", "tenant/replicated", "app", "us-west-2")
	open := func(dsn string) *Connector {
		cache := NewCache()
		t.Cleanup(func() { cache.Close() })
		c, err := openConnector(eng, dsn, WithAWSConfig(cfg), WithCache(cache))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	unrelated := "tenant/db?region=us-east-1&failover_region=us-west-2"
	replicated := "tenant/replicated?region=us-east-1&failover_region=us-west-2"

	fault.down.Store(true)
	if u, err := connect(open(unrelated)); err == nil {
		t.Errorf("cold start: connected as %q through the unrelated secret", u)
	}
	fault.down.Store(false)
	for _, dsn := range []string{unrelated, replicated} {
		if u, err := connect(open(dsn)); err != nil || u != "app" {
			t.Fatalf("%s with the primary up: %q, %v", dsn, u, err)
		}
	}
	fault.down.Store(true)
	if u, err := connect(open(unrelated)); err == nil {
		t.Errorf("primary answered before: connected as %q through the unrelated secret", u)
	} else {
		t.Logf("unrelated secret of the same name: %v", err)
	}
	if u, err := connect(open(replicated)); err != nil || u != "app" {
		t.Errorf("replica, primary answered before: %q, %v; want app", u, err)
	}
}
