package secretsqlotel

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/secretsql/secretsql"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/secretsql/secretsql/otel"

// Names of the instruments.
const (
	MetricReads        = "secretsql.secret.reads"
	MetricReadDuration = "secretsql.secret.read.duration"
	MetricRejections   = "secretsql.login.rejections"
	MetricAdoptions    = "secretsql.pending.adoptions"
	MetricStaleServed  = "secretsql.secret.stale_served"
	MetricFailovers    = "secretsql.secret.failovers"
)

// SpanRead is the name of the span of one read of the secret.
const SpanRead = "secretsql.secret.read"

// Attribute keys of secretsql's own; the others are OpenTelemetry's
// semantic conventions (db.system.name, cloud.region, error.type,
// db.response.status_code, aws.secretsmanager.secret.arn).
const (
	// AttrSecretID is the secret id of the DSN: a name, an ARN, or a
	// file: path. It names the secret; it is not secret.
	AttrSecretID = attribute.Key("secretsql.secret.id")
	// AttrStage is the staging label read or rejected.
	AttrStage = attribute.Key("secretsql.secret.stage")
	// AttrVersionID is the secret version's id (spans only).
	AttrVersionID = attribute.Key("secretsql.secret.version_id")
	// AttrSource is where reads go: secretsmanager, agent or file.
	AttrSource = attribute.Key("secretsql.secret.source")
	// AttrOutcome is "success" or "failure", for reads.
	AttrOutcome = attribute.Key("secretsql.read.outcome")
	// AttrBackground is true on the span of a background refresh, which
	// no connect waited for.
	AttrBackground = attribute.Key("secretsql.read.background")
)

// Values of [AttrOutcome].
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// An Option configures [Observer].
type Option func(*config)

type config struct {
	mp metric.MeterProvider
	tp trace.TracerProvider
}

// WithMeterProvider makes the observer record its metrics with mp. Default:
// the global provider (otel.GetMeterProvider) at the time Observer is
// called. A nil mp keeps the default.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	}
}

// WithTracerProvider makes the observer record its spans with tp. Default:
// the global provider (otel.GetTracerProvider) at the time Observer is
// called. A nil tp keeps the default.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	}
}

// observer holds the instruments.
type observer struct {
	tracer      trace.Tracer
	reads       metric.Int64Counter
	duration    metric.Float64Histogram
	rejections  metric.Int64Counter
	adoptions   metric.Int64Counter
	staleServed metric.Int64Counter
	failovers   metric.Int64Counter
}

// Observer returns a function for secretsql.WithObserver that records
// secretsql's events as the metrics and spans described in the package
// documentation. It is safe for concurrent use and does not block. An
// instrument that cannot be created is reported to OpenTelemetry's error
// handler (otel.Handle) and records nothing; the others work.
func Observer(opts ...Option) func(secretsql.Event) {
	cfg := config{mp: otel.GetMeterProvider(), tp: otel.GetTracerProvider()}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	meter := cfg.mp.Meter(ScopeName)
	o := &observer{tracer: cfg.tp.Tracer(ScopeName)}
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		if err != nil {
			otel.Handle(err)
		}
		return c
	}
	o.reads = counter(MetricReads, "{read}", "Reads of database secrets, by source, staging label and outcome.")
	o.rejections = counter(MetricRejections, "{login}", "Logins the database rejected with a secret version's credentials.")
	o.adoptions = counter(MetricAdoptions, "{adoption}", "AWSPENDING versions whose credentials logged in while AWSCURRENT's were rejected (a rotation's setSecret→finishSecret window).")
	o.staleServed = counter(MetricStaleServed, "{refresh}", "Background refreshes that failed, the cached value staying in use.")
	o.failovers = counter(MetricFailovers, "{failover}", "Reads that went to the failover region because the primary could not be reached.")
	var err error
	o.duration, err = meter.Float64Histogram(MetricReadDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of reads of database secrets."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	if err != nil {
		otel.Handle(err)
	}
	return o.observe
}

// observe records one event.
func (o *observer) observe(ev secretsql.Event) {
	ctx := ev.Context
	if ctx == nil {
		ctx = context.Background()
	}
	switch ev.Kind {
	case secretsql.EventFetch, secretsql.EventFetchFailed:
		o.read(ctx, ev)
	case secretsql.EventAuthFailed:
		attrs := append(common(ev), AttrStage.String(ev.Stage))
		if ev.Err != nil {
			attrs = append(attrs, semconv.ErrorTypeKey.String(ErrorType(ev.Err)))
			if code := StatusCode(ev.Err); code != "" {
				attrs = append(attrs, semconv.DBResponseStatusCode(code))
			}
		}
		o.rejections.Add(ctx, 1, metric.WithAttributes(attrs...))
		spanEvent(ev, MetricRejections, attrs)
	case secretsql.EventPendingAdopted:
		attrs := common(ev)
		o.adoptions.Add(ctx, 1, metric.WithAttributes(attrs...))
		spanEvent(ev, MetricAdoptions, attrs)
	case secretsql.EventStaleServed:
		attrs := append(common(ev), AttrSource.String(ev.Source), AttrStage.String(ev.Stage))
		attrs = appendRegionError(attrs, ev)
		o.staleServed.Add(ctx, 1, metric.WithAttributes(attrs...))
	case secretsql.EventFailover:
		attrs := appendRegionError(append(common(ev), AttrSource.String(ev.Source)), ev)
		o.failovers.Add(ctx, 1, metric.WithAttributes(attrs...))
		spanEvent(ev, MetricFailovers, attrs)
	}
}

// read records a read: its counter, its duration and its span, which
// started Duration before now.
func (o *observer) read(ctx context.Context, ev secretsql.Event) {
	end := time.Now()
	outcome := OutcomeSuccess
	if ev.Kind == secretsql.EventFetchFailed {
		outcome = OutcomeFailure
	}
	attrs := append(common(ev), AttrSource.String(ev.Source), AttrStage.String(ev.Stage), AttrOutcome.String(outcome))
	attrs = appendRegionError(attrs, ev)
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	o.reads.Add(ctx, 1, set)
	o.duration.Record(ctx, ev.Duration.Seconds(), set)

	kind := trace.SpanKindClient // a call to Secrets Manager or to the agent
	if ev.Source == "file" {
		kind = trace.SpanKindInternal
	}
	if ev.VersionID != "" {
		attrs = append(attrs, AttrVersionID.String(ev.VersionID))
	}
	if strings.HasPrefix(ev.SecretID, "arn:") {
		attrs = append(attrs, semconv.AWSSecretsmanagerSecretARN(ev.SecretID))
	}
	if ev.Context == nil {
		attrs = append(attrs, AttrBackground.Bool(true))
	}
	_, span := o.tracer.Start(ctx, SpanRead, trace.WithTimestamp(end.Add(-ev.Duration)),
		trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	if ev.Err != nil && outcome == OutcomeFailure {
		span.SetStatus(codes.Error, ErrorType(ev.Err))
	}
	span.End(trace.WithTimestamp(end))
}

// common returns the attributes of every instrument.
func common(ev secretsql.Event) []attribute.KeyValue {
	return []attribute.KeyValue{semconv.DBSystemNameKey.String(DBSystemName(ev.Engine)), AttrSecretID.String(ev.SecretID)}
}

// appendRegionError appends cloud.region and error.type, if known.
func appendRegionError(attrs []attribute.KeyValue, ev secretsql.Event) []attribute.KeyValue {
	if ev.Region != "" {
		attrs = append(attrs, semconv.CloudRegion(ev.Region))
	}
	if ev.Err != nil {
		attrs = append(attrs, semconv.ErrorTypeKey.String(ErrorType(ev.Err)))
	}
	return attrs
}

// spanEvent adds an event named name to the span of the connect's
// context, if it has a recording one.
func spanEvent(ev secretsql.Event, name string, attrs []attribute.KeyValue) {
	if ev.Context == nil {
		return
	}
	if span := trace.SpanFromContext(ev.Context); span.IsRecording() {
		if ev.VersionID != "" {
			attrs = append(attrs, AttrVersionID.String(ev.VersionID))
		}
		span.AddEvent(name, trace.WithAttributes(attrs...))
	}
}

// DBSystemName returns the OpenTelemetry db.system.name of a secretsql
// engine: postgres → postgresql, redshift → aws.redshift, mysql → mysql,
// mariadb → mariadb, sqlserver → microsoft.sql_server, oracle → oracle.db,
// and other_sql for any other.
func DBSystemName(engine string) string {
	switch engine {
	case "postgres":
		return semconv.DBSystemNamePostgreSQL.Value.AsString()
	case "redshift":
		return semconv.DBSystemNameAWSRedshift.Value.AsString()
	case "mysql":
		return semconv.DBSystemNameMySQL.Value.AsString()
	case "mariadb":
		return semconv.DBSystemNameMariaDB.Value.AsString()
	case "sqlserver":
		return semconv.DBSystemNameMicrosoftSQLServer.Value.AsString()
	case "oracle":
		return semconv.DBSystemNameOracleDB.Value.AsString()
	}
	return semconv.DBSystemNameOtherSQL.Value.AsString()
}
