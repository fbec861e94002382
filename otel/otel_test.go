package secretsqlotel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	mssql "github.com/microsoft/go-mssqldb"
	"github.com/sijms/go-ora/v2/network"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/secretsql/secretsql"
	secretsqlotel "github.com/secretsql/secretsql/otel"
)

// harness is an observer recording into an in-memory metric reader and
// span recorder.
type harness struct {
	observe func(secretsql.Event)
	reader  *sdkmetric.ManualReader
	spans   *tracetest.SpanRecorder
	tp      *sdktrace.TracerProvider
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	h.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = h.tp.Shutdown(context.Background())
	})
	h.observe = secretsqlotel.Observer(secretsqlotel.WithMeterProvider(mp), secretsqlotel.WithTracerProvider(h.tp))
	return h
}

// point is one data point of a metric: its value (a sum's, or a
// histogram's count) and its attributes.
type point struct {
	value int64
	attrs attribute.Set
}

// collect returns the data points per metric name, and the metrics'
// units.
func (h *harness) collect(t *testing.T) (map[string][]point, map[string]string) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	points, units := map[string][]point{}, map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != secretsqlotel.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, secretsqlotel.ScopeName)
		}
		for _, m := range sm.Metrics {
			units[m.Name] = m.Unit
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					points[m.Name] = append(points[m.Name], point{dp.Value, dp.Attributes})
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					points[m.Name] = append(points[m.Name], point{int64(dp.Count), dp.Attributes})
				}
			default:
				t.Errorf("metric %s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return points, units
}

// attrMap returns the attributes as strings.
func attrMap(s attribute.Set) map[string]string {
	m := map[string]string{}
	for _, kv := range s.ToSlice() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	return attrMap(attribute.NewSet(s.Attributes()...))
}

func TestReadMetricsAndSpan(t *testing.T) {
	h := newHarness(t)
	parentCtx, parent := h.tp.Tracer("test").Start(context.Background(), "query")
	arn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app-AbCdEf"
	h.observe(secretsql.Event{Kind: secretsql.EventFetch, Engine: "postgres", SecretID: arn, Stage: secretsql.StageCurrent,
		VersionID: "v1", Source: "secretsmanager", Region: "eu-west-1", Duration: 42 * time.Millisecond, Context: parentCtx})
	parent.End()

	points, units := h.collect(t)
	want := map[string]string{"db.system.name": "postgresql", "secretsql.secret.id": arn, "secretsql.secret.source": "secretsmanager",
		"secretsql.secret.stage": "AWSCURRENT", "secretsql.read.outcome": "success", "cloud.region": "eu-west-1"}
	for _, name := range []string{secretsqlotel.MetricReads, secretsqlotel.MetricReadDuration} {
		if len(points[name]) != 1 || points[name][0].value != 1 {
			t.Fatalf("%s: %+v, want one point of 1", name, points[name])
		}
		if got := attrMap(points[name][0].attrs); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s attributes = %v, want %v", name, got, want)
		}
	}
	if units[secretsqlotel.MetricReads] != "{read}" || units[secretsqlotel.MetricReadDuration] != "s" {
		t.Errorf("units %v", units)
	}

	var read sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		if s.Name() == secretsqlotel.SpanRead {
			read = s
		}
	}
	if read == nil {
		t.Fatalf("no %s span among %d", secretsqlotel.SpanRead, len(h.spans.Ended()))
	}
	if read.Parent().SpanID() != parent.SpanContext().SpanID() || read.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("read span's parent %v, want the connect's span %v", read.Parent().SpanID(), parent.SpanContext().SpanID())
	}
	if d := read.EndTime().Sub(read.StartTime()); d != 42*time.Millisecond {
		t.Errorf("read span lasted %v, want the read's 42ms", d)
	}
	if read.SpanKind() != trace.SpanKindClient || read.Status().Code != codes.Unset {
		t.Errorf("span kind %v, status %v", read.SpanKind(), read.Status())
	}
	attrs := spanAttrs(read)
	if attrs["secretsql.secret.version_id"] != "v1" || attrs["aws.secretsmanager.secret.arn"] != arn || attrs["db.system.name"] != "postgresql" {
		t.Errorf("span attributes %v", attrs)
	}
	if _, ok := attrs["secretsql.read.background"]; ok {
		t.Errorf("a connect's read marked background: %v", attrs)
	}
}

func TestBackgroundReadIsRoot(t *testing.T) {
	h := newHarness(t)
	h.observe(secretsql.Event{Kind: secretsql.EventFetch, Engine: "mysql", SecretID: "file:/run/secrets/db", Stage: secretsql.StageCurrent,
		Source: "file", Duration: time.Millisecond})
	spans := h.spans.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Parent().IsValid() || s.SpanKind() != trace.SpanKindInternal {
		t.Errorf("background file read: parent %v, kind %v; want a root internal span", s.Parent(), s.SpanKind())
	}
	attrs := spanAttrs(s)
	if attrs["secretsql.read.background"] != "true" || attrs["db.system.name"] != "mysql" {
		t.Errorf("attributes %v", attrs)
	}
	if _, ok := attrs["aws.secretsmanager.secret.arn"]; ok {
		t.Errorf("a file path given as an ARN: %v", attrs)
	}
}

func TestFailedRead(t *testing.T) {
	h := newHarness(t)
	fe := &secretsql.FetchError{SecretID: "prod/app", Stage: secretsql.StageCurrent, Code: "AccessDeniedException",
		Kind: secretsql.ErrAccessDenied, Err: errors.New("api error AccessDeniedException: not allowed")}
	h.observe(secretsql.Event{Kind: secretsql.EventFetchFailed, Engine: "sqlserver", SecretID: "prod/app", Stage: secretsql.StageCurrent,
		Source: "secretsmanager", Region: "us-east-1", Duration: time.Second, Err: fe, Context: context.Background()})
	points, _ := h.collect(t)
	got := attrMap(points[secretsqlotel.MetricReads][0].attrs)
	if got["secretsql.read.outcome"] != "failure" || got["error.type"] != "AccessDeniedException" || got["db.system.name"] != "microsoft.sql_server" {
		t.Errorf("attributes %v", got)
	}
	s := h.spans.Ended()[0]
	if s.Status().Code != codes.Error || s.Status().Description != "AccessDeniedException" {
		t.Errorf("status %+v, want Error with the error type", s.Status())
	}
}

func TestRotationEvents(t *testing.T) {
	h := newHarness(t)
	ctx, connect := h.tp.Tracer("test").Start(context.Background(), "connect")
	pgErr := &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: "password authentication failed"}
	for _, ev := range []secretsql.Event{
		{Kind: secretsql.EventAuthFailed, Stage: secretsql.StageCurrent, VersionID: "v1", Err: &pgconn.ConnectError{}, Context: ctx},
		{Kind: secretsql.EventAuthFailed, Stage: secretsql.StageCurrent, VersionID: "v1", Err: fmt.Errorf("connect: %w", pgErr), Context: ctx},
		{Kind: secretsql.EventPendingAdopted, Stage: secretsql.StagePending, VersionID: "v2"},
		{Kind: secretsql.EventStaleServed, Stage: secretsql.StageCurrent, VersionID: "v1", Source: "agent",
			Err: &secretsql.FetchError{Kind: secretsql.ErrThrottled, Code: "ThrottlingException", Err: errors.New("slow down")}},
		{Kind: secretsql.EventFailover, Stage: secretsql.StageCurrent, Source: "secretsmanager", Region: "eu-central-1",
			Err: &secretsql.FetchError{Kind: secretsql.ErrSecretsManager, Err: context.DeadlineExceeded}, Context: ctx},
	} {
		ev.Engine, ev.SecretID = "postgres", "prod/app"
		h.observe(ev)
	}
	connect.End()
	points, _ := h.collect(t)
	byName := func(name string) []map[string]string {
		var out []map[string]string
		for _, p := range points[name] {
			m := attrMap(p.attrs)
			m["value"] = fmt.Sprint(p.value)
			out = append(out, m)
		}
		slices.SortFunc(out, func(a, b map[string]string) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		return out
	}
	rej := byName(secretsqlotel.MetricRejections)
	if len(rej) != 2 || rej[0]["error.type"] != "28P01" || rej[0]["db.response.status_code"] != "28P01" || rej[1]["error.type"] != "*pgconn.ConnectError" {
		t.Errorf("%s = %v", secretsqlotel.MetricRejections, rej)
	}
	if a := byName(secretsqlotel.MetricAdoptions); len(a) != 1 || a[0]["value"] != "1" || a[0]["secretsql.secret.id"] != "prod/app" {
		t.Errorf("%s = %v", secretsqlotel.MetricAdoptions, a)
	}
	if s := byName(secretsqlotel.MetricStaleServed); len(s) != 1 || s[0]["error.type"] != "ThrottlingException" || s[0]["secretsql.secret.source"] != "agent" {
		t.Errorf("%s = %v", secretsqlotel.MetricStaleServed, s)
	}
	if f := byName(secretsqlotel.MetricFailovers); len(f) != 1 || f[0]["error.type"] != "timeout" || f[0]["cloud.region"] != "eu-central-1" {
		t.Errorf("%s = %v", secretsqlotel.MetricFailovers, f)
	}
	// The connect's span got an event per rejection and the failover; the
	// adoption had no context.
	var names []string
	for _, e := range h.spans.Ended()[0].Events() {
		names = append(names, e.Name)
	}
	if want := []string{secretsqlotel.MetricRejections, secretsqlotel.MetricRejections, secretsqlotel.MetricFailovers}; !slices.Equal(names, want) {
		t.Errorf("span events %v, want %v", names, want)
	}
}

func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		err        error
		want, code string
	}{
		{nil, "", ""},
		{&secretsql.FetchError{Kind: secretsql.ErrSecretNotFound, Code: "ResourceNotFoundException", Err: errors.New("x")}, "ResourceNotFoundException", ""},
		{&secretsql.FetchError{Kind: secretsql.ErrSecretsManager, Code: "BadToken", Err: errors.New("x")}, "BadToken", ""},
		{&secretsql.FetchError{Kind: secretsql.ErrSecretsManager, Code: "InternalFailure", Err: errors.New("x")}, "InternalFailure", ""},
		{&secretsql.FetchError{Kind: secretsql.ErrSecretsManager, Code: strings.Repeat("A", 64), Err: errors.New("x")}, strings.Repeat("A", 64), ""},
		// An agent's __type is free text: anything not shaped like an AWS
		// error code is "_OTHER".
		{&secretsql.FetchError{Kind: secretsql.ErrSecretsManager, Code: "Internal failure for user app", Err: errors.New("x")}, "_OTHER", ""},
		{&secretsql.FetchError{Kind: secretsql.ErrSecretsManager, Code: strings.Repeat("A", 65), Err: errors.New("x")}, "_OTHER", ""},
		{&secretsql.FetchError{Kind: secretsql.ErrSecretsManager, Code: "5xxError", Err: errors.New("x")}, "_OTHER", ""},
		{&secretsql.FetchError{Kind: secretsql.ErrSecretsManager, Code: "Throttling-Exception", Err: errors.New("x")}, "_OTHER", ""},
		{&secretsql.FetchError{Kind: secretsql.ErrSecretsManager, Code: "Accès", Err: errors.New("x")}, "_OTHER", ""},
		{&secretsql.FetchError{Kind: secretsql.ErrSecretsManager, Err: errors.New("dial tcp: refused")}, "secrets_manager", ""},
		{&secretsql.FetchError{Kind: secretsql.ErrSecretsManager, Err: fmt.Errorf("op: %w", context.DeadlineExceeded)}, "timeout", ""},
		{&secretsql.SecretError{Kind: secretsql.ErrMissingKey}, "missing_key", ""},
		{&secretsql.AuthError{Err: &pgconn.PgError{Code: "28P01"}}, "28P01", "28P01"},
		{&secretsql.AuthError{Err: errors.New("no code")}, "auth_failed", ""},
		{&mysql.MySQLError{Number: 1045, Message: "Access denied"}, "1045", "1045"},
		{fmt.Errorf("wrapped: %w", &mysql.MySQLError{Number: 1698}), "1698", "1698"},
		{mssql.Error{Number: 18456}, "18456", "18456"},
		{&network.OracleError{ErrCode: 1017}, "ORA-01017", "ORA-01017"},
		{errors.Join(errors.New("a"), &network.OracleError{ErrCode: 28000}), "ORA-28000", "ORA-28000"},
		{context.Canceled, "canceled", ""},
		{errors.New("plain"), "*errors.errorString", ""},
		{(*mysql.MySQLError)(nil), "*mysql.MySQLError", ""},
	} {
		if got := secretsqlotel.ErrorType(tc.err); got != tc.want {
			t.Errorf("ErrorType(%#v) = %q, want %q", tc.err, got, tc.want)
		}
		if got := secretsqlotel.StatusCode(tc.err); got != tc.code {
			t.Errorf("StatusCode(%#v) = %q, want %q", tc.err, got, tc.code)
		}
	}
}

func TestDBSystemName(t *testing.T) {
	for engine, want := range map[string]string{"postgres": "postgresql", "redshift": "aws.redshift", "mysql": "mysql", "mariadb": "mariadb",
		"sqlserver": "microsoft.sql_server", "oracle": "oracle.db", "db2": "other_sql"} {
		if got := secretsqlotel.DBSystemName(engine); got != want {
			t.Errorf("DBSystemName(%q) = %q, want %q", engine, got, want)
		}
	}
}
