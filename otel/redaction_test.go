package secretsqlotel_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/secretsql/secretsql"
)

// recorded returns every string the harness recorded: metric names,
// descriptions and units, data point attributes, span names, attributes,
// events, status descriptions and links.
func (h *harness) recorded(t *testing.T) []string {
	t.Helper()
	var out []string
	add := func(kvs ...attribute.KeyValue) {
		for _, kv := range kvs {
			out = append(out, string(kv.Key), kv.Value.String())
		}
	}
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out = append(out, m.Name, m.Description, m.Unit)
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					add(dp.Attributes.ToSlice()...)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					add(dp.Attributes.ToSlice()...)
				}
			default:
				t.Errorf("metric %s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	for _, s := range h.spans.Ended() {
		out = append(out, s.Name(), s.Status().Description)
		add(s.Attributes()...)
		for _, e := range s.Events() {
			out = append(out, e.Name)
			add(e.Attributes...)
		}
		for _, l := range s.Links() {
			add(l.Attributes...)
		}
	}
	return out
}

// TestNoSecretInAttributes sends the events of a rotation whose errors
// quote the password and the secret's value, as drivers and AWS messages
// may, and fails if either, or any error message, appears in a metric or
// span the observer recorded.
func TestNoSecretInAttributes(t *testing.T) {
	const password = "pw SENTINEL-7c1e\\9f'2a" // a space, a backslash and a quote, as rotation functions generate
	secretValue := `{"engine":"postgres","host":"db.internal","username":"app","password":"pw SENTINEL-7c1e\\9f'2a","dbname":"app"}`
	h := newHarness(t)
	ctx, span := h.tp.Tracer("test").Start(context.Background(), "query")
	errs := []error{
		&secretsql.FetchError{SecretID: "prod/app", Stage: secretsql.StagePending, Kind: secretsql.ErrSecretsManager,
			Err: errors.New("unexpected body " + secretValue)},
		&secretsql.FetchError{SecretID: "prod/app", Stage: secretsql.StageCurrent, Kind: secretsql.ErrAccessDenied,
			Code: "AccessDeniedException", Err: errors.New("denied for " + password)},
		// An agent's __type is passed on as the code.
		&secretsql.FetchError{SecretID: "prod/app", Stage: secretsql.StageCurrent, Kind: secretsql.ErrSecretsManager,
			Code: "denied for " + password, Err: errors.New("the agent answered HTTP 400")},
		&secretsql.AuthError{Engine: "postgres", SecretARN: "prod/app", VersionID: "v1", Attempts: 1,
			Err: &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: "password authentication failed: " + password}},
		fmt.Errorf("failed to connect to `password=%s`: %w", password,
			&pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: "password authentication failed"}),
		&mysql.MySQLError{Number: 1045, Message: "Access denied (using password: " + password + ")"},
		errors.New("cannot parse `host=db.internal password=" + password + "`"),
		&secretsql.SecretError{SecretARN: "prod/app", Reason: "not JSON: " + secretValue},
	}
	var events []secretsql.Event
	for _, engine := range []string{"postgres", "mysql", "mariadb", "redshift", "sqlserver", "oracle"} {
		base := secretsql.Event{Engine: engine, SecretID: "prod/app", Source: "secretsmanager", Region: "eu-west-1"}
		add := func(ev secretsql.Event) {
			ev.Engine, ev.SecretID, ev.Source, ev.Region = base.Engine, base.SecretID, base.Source, base.Region
			events = append(events, ev)
		}
		add(secretsql.Event{Kind: secretsql.EventFetch, Stage: secretsql.StageCurrent, VersionID: "v1", Duration: time.Millisecond})
		for _, err := range errs {
			add(secretsql.Event{Kind: secretsql.EventAuthFailed, Stage: secretsql.StageCurrent, VersionID: "v1", Err: err, Context: ctx})
			add(secretsql.Event{Kind: secretsql.EventFetchFailed, Stage: secretsql.StagePending, Duration: time.Millisecond, Err: err, Context: ctx})
			add(secretsql.Event{Kind: secretsql.EventStaleServed, Stage: secretsql.StageCurrent, VersionID: "v1", Err: err})
			add(secretsql.Event{Kind: secretsql.EventFailover, Stage: secretsql.StageCurrent, Duration: time.Millisecond, Err: err, Context: ctx})
		}
		add(secretsql.Event{Kind: secretsql.EventFetch, Stage: secretsql.StagePending, VersionID: "v2", Duration: time.Millisecond, Context: ctx})
		add(secretsql.Event{Kind: secretsql.EventPendingAdopted, Stage: secretsql.StagePending, VersionID: "v2", Context: ctx})
		add(secretsql.Event{Kind: secretsql.EventFetch, Stage: secretsql.StageCurrent, VersionID: "v2", Duration: time.Millisecond})
	}
	for _, ev := range events {
		h.observe(ev)
	}
	span.End()

	strs := h.recorded(t)
	if len(strs) < 100 {
		t.Fatalf("only %d strings recorded: the harness saw nothing", len(strs))
	}
	forbidden := []string{password, secretValue, "SENTINEL"}
	for _, err := range errs {
		forbidden = append(forbidden, err.Error())
	}
	checkNoSecret(t, strs, forbidden...)
}

// checkNoSecret fails if a recorded string holds one of the secrets.
func checkNoSecret(t *testing.T, recorded []string, secrets ...string) {
	t.Helper()
	for _, s := range recorded {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("recorded %q, which holds %q", s, secret)
			}
		}
	}
}
