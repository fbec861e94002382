package secretsql

// Micro benchmarks of the connect path. Run them with
//
//	go test -run '^$' -bench . -benchmem .
//
// The macro suite against real databases is internal/bench (make bench).

import (
	"context"
	"database/sql/driver"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secretsql/secretsql/smtest"
)

const benchSecret = `{"engine":"postgres","host":"db.internal","port":5432,"username":"app",` +
	`"password":"s3cr3t'\"\\@:/?#%;{}+ pw","dbname":"app","dbInstanceIdentifier":"prod-db-1",` +
	`"masterarn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0a1b2c-AbCdEf"}`

// warmConnector returns a Connector of a testEngine (whose native connector
// returns at once) with its secret already cached, and the engine's native
// connector for the same credentials.
func warmConnector(b *testing.B) (*Connector, driver.Connector) {
	b.Helper()
	sm := smtest.NewServer()
	b.Cleanup(sm.Close)
	srv := newFakeServer()
	srv.setPassword("app", "s3cr3t'\"\\@:/?#%;{}+ pw")
	eng := testEngine{name: "fake", srv: srv}
	id := fmt.Sprintf("bench/%s", b.Name())
	sm.CreateSecret(id, benchSecret)
	c, err := openConnector(eng, id, WithClient(sm.Client()), WithCache(NewCache()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if _, err := c.Connect(ctx); err != nil { // fills the cache
		b.Fatal(err)
	}
	r, err := c.Resolve(ctx)
	if err != nil {
		b.Fatal(err)
	}
	prepared, err := eng.Prepare(nil)
	if err != nil {
		b.Fatal(err)
	}
	nc, err := prepared.Connector(r.Credentials)
	if err != nil {
		b.Fatal(err)
	}
	if calls := sm.Calls("GetSecretValue"); calls != 1 {
		b.Fatalf("%d GetSecretValue calls while warming up, want 1", calls)
	}
	return c, nc
}

// warmTokenConnector returns a Connector of an iam:// DSN on a testEngine
// named postgres, with a token signed and cached (a reused token, as during
// its 15 minutes).
func warmTokenConnector(b *testing.B) *Connector {
	b.Helper()
	srv := newFakeServer()
	eng := testEngine{name: "postgres", srv: srv}
	creds := credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret-key", "")
	c, err := openConnector(eng, "iam://app@db.internal:5432/app?region=eu-west-1",
		WithAWSConfig(aws.Config{Credentials: creds}), WithCache(NewCache()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	r, err := c.Resolve(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	srv.setPassword("app", r.Credentials.Password()) // the fake server accepts the cached token
	if _, err := c.Connect(context.Background()); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkConnect compares a cache-hit Connect with a direct call of the
// native connector it ends in: the difference is secretsql's overhead per
// new connection (goal: ≤ 2 µs and ≤ 10 allocations).
func BenchmarkConnect(b *testing.B) {
	c, native := warmConnector(b)
	iam := warmTokenConnector(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		conn driver.Connector
	}{{"native", native}, {"secretsql", c}, {"secretsql-iam", iam}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.conn.Connect(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bc.conn.Connect(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCacheHit measures the shared cache's lookup of a fresh value.
func BenchmarkCacheHit(b *testing.B) {
	c, _ := warmConnector(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.h.current(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseDSN parses a secret name and a full ARN with parameters.
func BenchmarkParseDSN(b *testing.B) {
	for _, bc := range []struct{ name, dsn string }{
		{"name", "prod/app"},
		{"arn-params", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app-AbCdEf" +
			"?sslmode=require&application_name=api&host=db.internal&dbname=app&ttl=30m"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseDSN(bc.dsn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseSecret decodes an RDS-style secret value (once per fetched
// version) and resolves it against a DSN (once per native connector).
func BenchmarkParseSecret(b *testing.B) {
	raw := []byte(benchSecret)
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseSecret(raw, "arn", "v1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("resolve", func(b *testing.B) {
		s, err := parseSecret(raw, "arn", "v1")
		if err != nil {
			b.Fatal(err)
		}
		d, err := parseDSN("prod/app?dbname=other")
		if err != nil {
			b.Fatal(err)
		}
		e := testEngine{name: "fake"}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := resolve(s.credential(), e, &d, "arn", "v1", true); err != nil {
				b.Fatal(err)
			}
		}
	})
}
