package secretsqlotel_test

import (
	"context"
	"fmt"
	"log"
	"slices"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/secretsql/secretsql"
	_ "github.com/secretsql/secretsql/engines/postgres"
	secretsqlotel "github.com/secretsql/secretsql/otel"
	"github.com/secretsql/secretsql/smtest"
)

// The program sets the global providers (here with an in-memory reader,
// to print what was recorded), then adds the observer to a Connector's
// options. The Secrets Manager emulator stands in for AWS.
func ExampleObserver() {
	reader := sdkmetric.NewManualReader()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))

	sm := smtest.NewServer()
	defer sm.Close()
	sm.CreateSecret("prod/app", `{"engine":"postgres","host":"db.internal","username":"app","password":"example-only"}`)

	c, err := secretsql.NewConnector("postgres", "prod/app?region=us-east-1",
		secretsql.WithClient(sm.Client()), secretsql.WithCache(secretsql.NewCache()),
		secretsql.WithObserver(secretsqlotel.Observer()), // the line to add
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Resolve(context.Background()); err != nil { // reads the secret, as a first connect would
		log.Fatal(err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
			for _, dp := range sum.DataPoints {
				fmt.Println(m.Name, dp.Value)
				for _, kv := range dp.Attributes.ToSlice() {
					fmt.Printf("  %s=%s\n", kv.Key, kv.Value.String())
				}
			}
		}
	}
	// Output:
	// secretsql.secret.reads 1
	//   cloud.region=us-east-1
	//   db.system.name=postgresql
	//   secretsql.read.outcome=success
	//   secretsql.secret.id=prod/app
	//   secretsql.secret.source=secretsmanager
	//   secretsql.secret.stage=AWSCURRENT
}

// A read made for a connect is a child span of the connect's context: here
// the span of a request that resolves the credentials.
func ExampleWithTracerProvider() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	sm := smtest.NewServer()
	defer sm.Close()
	sm.CreateSecret("prod/app", `{"engine":"postgres","host":"db.internal","username":"app","password":"example-only"}`)
	c, err := secretsql.NewConnector("postgres", "prod/app?region=us-east-1",
		secretsql.WithClient(sm.Client()), secretsql.WithCache(secretsql.NewCache()),
		secretsql.WithObserver(secretsqlotel.Observer(secretsqlotel.WithTracerProvider(tp))))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, request := tp.Tracer("app").Start(context.Background(), "GET /orders")
	if _, err := c.Resolve(ctx); err != nil {
		log.Fatal(err)
	}
	request.End()

	for _, s := range spans.Ended() {
		parent := "none"
		if s.Parent().SpanID() == request.SpanContext().SpanID() {
			parent = "GET /orders"
		}
		var keys []string
		for _, kv := range s.Attributes() {
			keys = append(keys, string(kv.Key))
		}
		slices.Sort(keys)
		fmt.Printf("%s (parent: %s) %v\n", s.Name(), parent, keys)
	}
	// Output:
	// secretsql.secret.read (parent: GET /orders) [cloud.region db.system.name secretsql.read.outcome secretsql.secret.id secretsql.secret.source secretsql.secret.stage secretsql.secret.version_id]
	// GET /orders (parent: none) []
}
