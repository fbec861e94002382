// Package secretsql is a database/sql driver wrapper that reads database
// credentials from AWS Secrets Manager — or signs RDS IAM and Aurora DSQL
// tokens, or reads HashiCorp Vault, a mounted file or a source of your own —
// and survives password rotation and token expiry without failed queries.
//
// Import an engine package for its side effect and open the driver
// "secretsmanager-<engine>" with the secret's ARN or name as the DSN:
//
//	import _ "github.com/secretsql/secretsql/engines/postgres"
//
//	db, err := sql.Open("secretsmanager-postgres",
//		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app-AbCdEf?sslmode=verify-full")
//
// The engines are postgres and redshift (pgx), mysql and mariadb
// (go-sql-driver/mysql), sqlserver (go-mssqldb) and oracle (go-ora);
// engines/all registers them all. Connections are the native driver's own,
// unwrapped: secretsql acts only when a connection is opened.
//
// # DSN
//
// A DSN is `<secret-id>[?key=value&…]`. The secret id is a name, a full ARN
// or a partial ARN. secretsql reads these keys itself:
//
//	region    AWS region of Secrets Manager   (default: the ARN's, else the SDK's chain, e.g. AWS_REGION)
//	endpoint  Secrets Manager endpoint URL    (default: the SDK's, e.g. AWS_ENDPOINT_URL_SECRETS_MANAGER)
//	host      overrides the secret's host
//	port      overrides the secret's port     (default: the secret's, else the engine's)
//	dbname    overrides the secret's dbname   (default: the secret's, else the engine's)
//	stage     staging label to read           (default: AWSCURRENT)
//	ttl       refresh interval, e.g. 30m      (default: 1h, or WithRefreshInterval; 10s for a file)
//	source    secretsmanager (the GetSecretValue API, the default) or agent
//	agent     the agent's host:port           (default: localhost:$PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, else localhost:2773)
//	failover_region  a region holding a replica of the secret, read when the primary region is unavailable
//
// Every other key is passed to the native driver (sslmode, tls, parseTime,
// encrypt, …); keys that would carry credentials are rejected.
//
// # Sources
//
// By default the secret is read with the GetSecretValue API. With
// source=agent it is read through the AWS Secrets Manager Agent or the AWS
// Parameters and Secrets Lambda Extension (one local HTTP API, sharing one
// cache among the processes of a host): the process needs no AWS
// credentials, sends the SSRF token it finds in AWS_TOKEN,
// AWS_SESSION_TOKEN or AWS_CONTAINER_AUTHORIZATION_TOKEN (a file://PATH
// value is read from the file), reads the agent's cache normally and asks
// it for refreshNow=true after a rejected login. A secret id
// "file:/mnt/secrets-store/prod_db" reads a file holding the secret's JSON,
// such as one the Secrets Store CSI driver mounts: it is checked for a
// change every 10 s and after a rejected login, and a half-written or
// invalid file never replaces a good value. A file has no AWSPENDING: it
// lags a rotation by up to the CSI driver's poll interval (2 minutes by
// default), so for zero failed queries rotate with alternating users, or
// read through the agent or the API. failover_region=REGION reads the
// replica of a multi-Region secret there (the same name; an ARN's region
// replaced, with the API and the same AWS options) when the primary region
// is unavailable (no answer, a timeout, a 5xx, throttling) and the value is
// needed: never on an answer such as AccessDenied or ResourceNotFound, and
// never while a cached value serves; every read tries the primary first.
// Events say which source and region served.
//
// # Secrets
//
// The secret holds the database secret structure of the Secrets Manager
// user guide, as written by RDS and the rotation functions:
//
//	{"engine":"postgres","host":"db.internal","port":5432,"username":"app","password":"…","dbname":"app"}
//
// port may be a number or a string. A secret without "engine" is accepted by
// every engine; one for another engine is refused with [ErrEngineMismatch].
// RDS-managed secrets hold only username and password: give host (and port,
// dbname) in the DSN.
//
// # Caching and rotation
//
// Connectors read through a [Cache]: the process-wide default one, or one
// of [NewCache] given with [WithCache]. Every Connector that reads the same
// secret and staging label with the same AWS identity (the credentials
// provider of its client, the region and the endpoint) shares one cached
// value, fetched by one GetSecretValue call however many connections are
// opened at once, and refreshed in the background after the refresh
// interval (a failed refresh keeps the cached value). A value read with one
// identity is never handed to a reader with another. A cached secret
// outlives its last Connector for the refresh interval, so opening and
// closing a sql.DB per request reads it once. When the database rejects the
// credentials, a connect looks for newer ones — a version another connect
// already found, AWSPENDING, then a fresh read of AWSCURRENT — and logs in
// again with backoff, within its context ([WithRetry]). AWSPENDING is what
// a rotation's setSecret step has already put in the database while
// AWSCURRENT still holds the old password, until finishSecret; once
// AWSPENDING logs in it is used until AWSCURRENT changes. AWSPENDING is
// read first because a rotation moves AWSCURRENT before it removes
// AWSPENDING, so the two reads cannot both miss a finishing rotation.
// Forced reads are shared and rate-limited per secret
// ([WithMinRefreshInterval]), so a wrong password cannot flood Secrets
// Manager. The only IAM action needed is secretsmanager:GetSecretValue (and
// kms:Decrypt for a secret encrypted with a customer-managed key).
//
// # Errors
//
// Errors match exported sentinels with errors.Is: [ErrSecretNotFound],
// [ErrAccessDenied], [ErrMissingKey], [ErrEngineMismatch], [ErrAuthFailed],
// and so on; the typed errors [*FetchError], [*SecretError], [*AuthError]
// and [*DSNError] give details, and errors.As reaches the AWS SDK's and the
// native driver's own errors. No error, log record or formatted value holds
// a password: [Credentials] prints redacted with every fmt verb, slog and
// encoding/json.
//
// # Native pools and tools
//
// Programs that use a native pool rather than database/sql take the
// credentials from the same cache through a [Handle]: engines/postgres.Hook
// (pgxpool) and engines/mysql.Hook (a mysql.Config of their own) are built
// on one. Frameworks that take only a driver name get options with
// [RegisterDriver]. The command cmd/secretsql checks a secret and a
// connection with clear hints on failure, and serves the Secrets Manager
// emulator of package smtest for local development.
//
// # Engines of one's own
//
// Package [github.com/secretsql/secretsql/engine] is secretsql's service
// provider interface, as database/sql/driver is database/sql's: the
// interface an engine implements to bring a driver secretsql does not ship,
// the Register its init function calls (which also registers its driver
// "secretsmanager-<engine>"), and the list of registered engines.
package secretsql
