package secretsql

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/secretsql/secretsql/smtest"
)

// fixedResolver sends every request of a client to one URL.
type fixedResolver struct{ url string }

func (r *fixedResolver) ResolveEndpoint(context.Context, secretsmanager.EndpointParameters) (smithyendpoints.Endpoint, error) {
	u, err := url.Parse(r.url)
	if err != nil {
		return smithyendpoints.Endpoint{}, err
	}
	return smithyendpoints.Endpoint{URI: *u}, nil
}

// redirect is a transport that sends every request to one server, keeping
// the Host header the request was signed with.
type redirect struct {
	to   *url.URL
	next http.RoundTripper
}

func (t redirect) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = r.URL.Host
	r.URL.Scheme, r.URL.Host = t.to.Scheme, t.to.Host
	return t.next.RoundTrip(r)
}

// twoServers is finding 8 of issue 19's bed: two Secrets Manager servers
// holding a secret of the same name for two users, and a base aws.Config
// whose credentials are already an *aws.CredentialsCache (as
// LoadDefaultConfig returns), pointed at neither.
type twoServers struct {
	a, b *smtest.Server
	base aws.Config
	db   *fakeServer
	eng  testEngine
}

func newTwoServers(t *testing.T) *twoServers {
	ts := &twoServers{a: smtest.NewServer(), b: smtest.NewServer(), db: newFakeServer()}
	t.Cleanup(ts.a.Close)
	t.Cleanup(ts.b.Close)
	ts.a.CreateSecret("tenant/db", secretJSON("alice", "pw-a"))
	ts.b.CreateSecret("tenant/db", secretJSON("bob", "pw-b"))
	ts.db.setPassword("alice", "pw-a")
	ts.db.setPassword("bob", "pw-b")
	ts.eng = testEngine{name: "fake", srv: ts.db}
	ts.base = ts.a.Config()
	ts.base.BaseEndpoint = nil
	ts.base.Credentials = aws.NewCredentialsCache(ts.base.Credentials)
	return ts
}

// userOf connects through c and returns the user it logged in as.
func userOf(t *testing.T, c *Connector) string {
	t.Helper()
	conn, err := c.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.(*fakeConn).c.Username
}

// withResolver is a ServiceOptions entry that sets the Secrets Manager
// client's EndpointResolverV2.
func withResolver(r secretsmanager.EndpointResolverV2) func(string, any) {
	return func(_ string, o any) {
		if so, ok := o.(*secretsmanager.Options); ok {
			so.EndpointResolverV2 = r
		}
	}
}

// TestAPIIdentityTarget is finding 8 of issue 19: two Connectors whose
// clients share the credentials but send their requests to two servers
// (by an endpoint resolver, or by an HTTP client) never share cached
// values: each gets its own server's value and each server sees its read.
// Connectors that do read from one place (one client, one aws.Config) still
// share one read.
func TestAPIIdentityTarget(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(ts *twoServers, srv *smtest.Server) Option
	}{
		{"WithClient and EndpointResolverV2", func(ts *twoServers, srv *smtest.Server) Option {
			return WithClient(secretsmanager.NewFromConfig(ts.base, func(o *secretsmanager.Options) {
				o.EndpointResolverV2 = &fixedResolver{url: srv.URL}
			}))
		}},
		{"WithAWSConfig and EndpointResolverV2", func(ts *twoServers, srv *smtest.Server) Option {
			cfg := ts.base
			cfg.ServiceOptions = append(slices.Clip(cfg.ServiceOptions), withResolver(&fixedResolver{url: srv.URL}))
			return WithAWSConfig(cfg)
		}},
		{"WithAWSConfig and HTTPClient", func(ts *twoServers, srv *smtest.Server) Option {
			u, err := url.Parse(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			cfg := ts.base
			cfg.HTTPClient = &http.Client{Transport: redirect{to: u, next: ts.base.HTTPClient.(*http.Client).Transport}}
			return WithAWSConfig(cfg)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTwoServers(t)
			cache := NewCache()
			defer cache.Close()
			open := func(o Option) *Connector {
				c, err := openConnector(ts.eng, "tenant/db?region=us-east-1", o, WithCache(cache))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			optA, optB := tc.opts(ts, ts.a), tc.opts(ts, ts.b)
			a1, a2, b := open(optA), open(optA), open(optB)
			if u := userOf(t, a1); u != "alice" {
				t.Fatalf("Connector of server A logged in as %q, want alice", u)
			}
			if u := userOf(t, b); u != "bob" {
				t.Errorf("Connector of server B logged in as %q, want bob (server B saw %d GetSecretValue calls)", u, ts.b.Calls(get))
			}
			if u := userOf(t, a2); u != "alice" {
				t.Errorf("second Connector of server A logged in as %q, want alice", u)
			}
			if na, nb := ts.a.Calls(get), ts.b.Calls(get); na != 1 || nb != 1 {
				t.Errorf("GetSecretValue calls: server A %d, server B %d; want 1 each (A's two Connectors share one read)", na, nb)
			}
		})
	}
}

// TestAPIIdentityShared: Connectors of one aws.Config, whatever it holds,
// share one read, and so do Connectors of one client; the identity tells
// configurations apart, not Connectors.
func TestAPIIdentityShared(t *testing.T) {
	ts := newTwoServers(t)
	cfg := ts.base
	cfg.ServiceOptions = []func(string, any){withResolver(&fixedResolver{url: ts.a.URL})}
	cfg.APIOptions = append(slices.Clip(cfg.APIOptions), func(*middleware.Stack) error { return nil })
	client := secretsmanager.NewFromConfig(ts.base, func(o *secretsmanager.Options) {
		o.EndpointResolverV2 = &fixedResolver{url: ts.b.URL}
	})
	cache := NewCache()
	defer cache.Close()
	for range 3 {
		for _, o := range []Option{WithAWSConfig(cfg), WithClient(client)} {
			c, err := openConnector(ts.eng, "tenant/db?region=us-east-1", o, WithCache(cache))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			userOf(t, c)
		}
	}
	if na, nb := ts.a.Calls(get), ts.b.Calls(get); na != 1 || nb != 1 {
		t.Errorf("GetSecretValue calls: %d through one aws.Config, %d through one client; want 1 each", na, nb)
	}
}

// TestAPIIdentityOfConfig: the identity of a source built from an
// aws.Config tells apart every setting that can send a request elsewhere
// (each added to a copy of one base configuration), and is one for copies
// of one configuration.
func TestAPIIdentityOfConfig(t *testing.T) {
	base := aws.Config{
		Region:      "us-east-1",
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")),
		HTTPClient:  &http.Client{},
		APIOptions:  make([]func(*middleware.Stack) error, 1, 4), // room to append in place
	}
	base.APIOptions[0] = func(*middleware.Stack) error { return nil }
	noop := func(*middleware.Stack) error { return nil }
	identity := func(cfg aws.Config) any {
		t.Helper()
		s, err := newAPISource(&dsnConfig{secretID: "tenant/db"}, &config{awsConfig: &cfg})
		if err != nil {
			t.Fatal(err)
		}
		return s.identity()
	}
	want := identity(base)
	if got := identity(base); got != want {
		t.Fatalf("two sources of one aws.Config: identities differ (%+v, %+v)", got, want)
	}
	for _, tc := range []struct {
		name   string
		change func(cfg *aws.Config)
	}{
		{"Region", func(c *aws.Config) { c.Region = "us-west-2" }},
		{"BaseEndpoint", func(c *aws.Config) { c.BaseEndpoint = aws.String("https://sm.example") }},
		{"Credentials", func(c *aws.Config) {
			c.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""))
		}},
		{"HTTPClient", func(c *aws.Config) { c.HTTPClient = &http.Client{} }},
		{"HTTPClient nil", func(c *aws.Config) { c.HTTPClient = nil }},
		{"APIOptions appended in place", func(c *aws.Config) { c.APIOptions = append(c.APIOptions, noop) }},
		{"APIOptions replaced", func(c *aws.Config) { c.APIOptions = []func(*middleware.Stack) error{noop} }},
		{"ServiceOptions", func(c *aws.Config) { c.ServiceOptions = []func(string, any){func(string, any) {}} }},
		{"ServiceOptions resolver", func(c *aws.Config) {
			c.ServiceOptions = []func(string, any){withResolver(&fixedResolver{url: "https://sm.example"})}
		}},
		{"Interceptors", func(c *aws.Config) {
			c.Interceptors.AddBeforeTransmit(&nopInterceptor{})
		}},
		{"EndpointResolverWithOptions", func(c *aws.Config) {
			//lint:ignore SA1019 the deprecated resolver must still be part of the identity
			c.EndpointResolverWithOptions = aws.EndpointResolverWithOptionsFunc(func(string, string, ...any) (aws.Endpoint, error) {
				//lint:ignore SA1019 as above
				return aws.Endpoint{URL: "https://sm.example"}, nil
			})
		}},
		{"UseFIPSEndpoint", func(c *aws.Config) {
			c.ConfigSources = []any{awsconfig.LoadOptions{UseFIPSEndpoint: aws.FIPSEndpointStateEnabled}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.change(&cfg)
			if identity(cfg) == want {
				t.Errorf("a configuration with another %s has the identity of the base configuration", tc.name)
			}
			if tc.name != "EndpointResolverWithOptions" && identity(cfg) != identity(cfg) {
				t.Errorf("two sources of one configuration with %s: identities differ", tc.name)
			}
		})
	}
}

// nopInterceptor is an interceptor that changes nothing.
type nopInterceptor struct{ _ byte }

func (*nopInterceptor) BeforeTransmit(context.Context, *smithyhttp.InterceptorContext) error {
	return nil
}
