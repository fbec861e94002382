// Package secretsqlotel turns secretsql's events into OpenTelemetry metrics
// and spans. It is a module of its own (github.com/secretsql/secretsql/otel),
// so that programs that do not use OpenTelemetry do not get it through
// secretsql.
//
// Two lines add it to a program whose global providers are set
// (otel.SetMeterProvider, otel.SetTracerProvider):
//
//	import secretsqlotel "github.com/secretsql/secretsql/otel"
//
//		secretsql.WithObserver(secretsqlotel.Observer()), // among the Connector's options
//
// [WithMeterProvider] and [WithTracerProvider] choose other providers.
// Frameworks that take only a driver name get the observer through
// secretsql.RegisterDriver.
//
// # Metrics
//
// The meter is named [ScopeName]. Every instrument carries db.system.name
// (the OpenTelemetry name of the database: postgresql, mysql, mariadb,
// microsoft.sql_server, oracle.db, aws.redshift) and secretsql.secret.id
// (the secret id of the DSN: a name, an ARN or a file: path):
//
//	secretsql.secret.reads          counter {read}   one per read of the secret
//	secretsql.secret.read.duration  histogram s      how long each read took
//	    + secretsql.secret.source (secretsmanager, agent, file),
//	      secretsql.secret.stage (AWSCURRENT, AWSPENDING, …),
//	      secretsql.read.outcome (success, failure), cloud.region,
//	      error.type (failures)
//	secretsql.login.rejections      counter {login}  the database rejected a version's credentials
//	    + secretsql.secret.stage, error.type, db.response.status_code
//	secretsql.pending.adoptions     counter {adoption}  AWSPENDING logged in during a rotation
//	secretsql.secret.stale_served   counter {refresh}   a background refresh failed; the cached value stays
//	    + secretsql.secret.source, secretsql.secret.stage, cloud.region, error.type
//	secretsql.secret.failovers      counter {failover}  a read went to the failover region
//	    + secretsql.secret.source, cloud.region (the region that served), error.type (why the primary did not)
//
// error.type is the AWS error code of a failed read (AccessDeniedException,
// …; "_OTHER" for a code not shaped like one), or "timeout" for a read that
// ran out of time; else the database's code (SQLSTATE 28P01, MySQL 1045,
// ORA-01017, …); else a secretsql sentinel's short name (secret_not_found,
// throttled, …); else "timeout" or "canceled" for the context errors; else
// the error's Go type: never an error message ([ErrorType]).
//
// # Spans
//
// Each read of the secret is a span named [SpanRead], started when the read
// started and ended when it ended. A read made for a connect is a child of
// the span in the connect's context (database/sql passes the query's
// context to Connect, so the read joins the caller's trace); a background
// refresh is a root span. It carries the metric attributes above plus
// secretsql.secret.version_id, aws.secretsmanager.secret.arn (when the
// secret id is an ARN) and, for a failure, error.type and an Error status
// whose description is the error type. A rejected login, an adopted
// AWSPENDING and a failover are also recorded as span events (named like
// their metrics) on the span of the connect's context, if it is recording.
//
// # What is never recorded
//
// No attribute, span name, span event or status holds a password, a secret
// value or an error message (messages of drivers and of AWS may quote what
// they were given). Version ids are recorded on spans only: they change at
// every rotation, too often for metric attributes.
//
// secretsql reports a read shared by several Connectors (the same secret
// read with the same AWS identity) to the one that made it, so one
// observer given to every Connector counts each read once.
package secretsqlotel
