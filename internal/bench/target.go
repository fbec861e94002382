package bench

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/secretsql/secretsql"
	mysqlengine "github.com/secretsql/secretsql/engines/mysql"
	"github.com/secretsql/secretsql/engines/postgres"
	"github.com/secretsql/secretsql/internal/drivertest"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// Target is one engine under test: a throwaway database of the test bed and
// a Secrets Manager emulator that holds its secrets. Its methods build the
// connectors the benchmarks compare, all over the same native driver and
// the same connection parameters.
type Target struct {
	// Engine is testdb.EnginePostgres or testdb.EngineMariaDB; it is also
	// the secretsql engine name ("postgres", "mariadb").
	Engine string
	DB     *testdb.DB
	SM     *smtest.Server

	adminARN string // the masterarn secret for alternating users, made on first use
	seq      atomic.Int64
}

// NewTarget returns a Target for db, whose secrets live in sm.
func NewTarget(db *testdb.DB, sm *smtest.Server) (*Target, error) {
	switch db.Engine {
	case testdb.EnginePostgres, testdb.EngineMariaDB:
	default:
		return nil, fmt.Errorf("bench: unsupported engine %q", db.Engine)
	}
	return &Target{Engine: db.Engine, DB: db, SM: sm}, nil
}

// Name is the server's display name.
func (t *Target) Name() string {
	if t.Engine == testdb.EnginePostgres {
		return "PostgreSQL"
	}
	return "MariaDB"
}

// NewSecret stores a database secret for user and password in the emulator
// and returns its ARN. With masterARN set, the secret names the admin
// secret, as alternating-users rotation needs.
func (t *Target) NewSecret(user, password string, withMaster bool) (string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(t.DB.SecretJSONFor(user, password)), &m); err != nil {
		return "", err
	}
	if withMaster {
		if t.adminARN == "" {
			t.adminARN = t.SM.CreateSecret(fmt.Sprintf("bench/%s/admin", t.Engine), t.DB.AdminSecretJSON())
		}
		m["masterarn"] = t.adminARN
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return t.SM.CreateSecret(fmt.Sprintf("bench/%s/app-%d", t.Engine, t.seq.Add(1)), string(b)), nil
}

// Raw returns the native driver's connector with literal credentials: pgx
// stdlib or go-sql-driver/mysql, with the parameters secretsql's engines
// produce for the same secret.
func (t *Target) Raw(user, password string) (driver.Connector, error) {
	if t.Engine == testdb.EnginePostgres {
		cfg, err := t.pgConfig(user)
		if err != nil {
			return nil, err
		}
		cfg.Password = password
		return stdlib.GetConnector(*cfg), nil
	}
	cfg := t.myConfig(user)
	cfg.Passwd = password
	return mysql.NewConnector(cfg)
}

func (t *Target) pgConfig(user string) (*pgx.ConnConfig, error) {
	return pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable",
		t.DB.Host, t.DB.Port, user, t.DB.Database))
}

func (t *Target) myConfig(user string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = t.DB.Host + ":" + strconv.Itoa(t.DB.Port)
	cfg.User = user
	cfg.DBName = t.DB.Database
	return cfg
}

// DSN returns the secretsql DSN of the secret arn.
func (t *Target) DSN(arn string) string {
	if t.Engine == testdb.EnginePostgres {
		return arn + "?sslmode=disable"
	}
	return arn
}

// SecretSQL returns a secretsql Connector ("secretsmanager-<engine>") for
// the secret arn, reading it with client; opts come after WithClient. The
// caller closes it.
func (t *Target) SecretSQL(arn string, client secretsql.GetSecretValueAPI, opts ...secretsql.Option) (*secretsql.Connector, error) {
	return secretsql.NewConnector(t.Engine, t.DSN(arn), append([]secretsql.Option{secretsql.WithClient(client)}, opts...)...)
}

// Naive returns the connector users write by hand: the native driver with a
// bare before-connect hook (pgx stdlib's OptionBeforeConnect,
// go-sql-driver's BeforeConnect) that calls GetSecretValue on every connect
// and sets the user and password it reads.
func (t *Target) Naive(arn string, client secretsql.GetSecretValueAPI) (driver.Connector, error) {
	fetch := func(ctx context.Context) (user, password string, err error) {
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			return "", "", err
		}
		var s struct{ Username, Password string }
		if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &s); err != nil {
			return "", "", err
		}
		return s.Username, s.Password, nil
	}
	if t.Engine == testdb.EnginePostgres {
		cfg, err := t.pgConfig("placeholder")
		if err != nil {
			return nil, err
		}
		return stdlib.GetConnector(*cfg, stdlib.OptionBeforeConnect(func(ctx context.Context, c *pgx.ConnConfig) (err error) {
			c.User, c.Password, err = fetch(ctx)
			return err
		})), nil
	}
	cfg := t.myConfig("placeholder")
	if err := cfg.Apply(mysql.BeforeConnect(func(ctx context.Context, c *mysql.Config) (err error) {
		c.User, c.Passwd, err = fetch(ctx)
		return err
	})); err != nil {
		return nil, err
	}
	return mysql.NewConnector(cfg)
}

// Hooked returns the native driver's connector with secretsql's hook for
// the secret arn, read with client: pgx stdlib with the postgres Hook as
// its BeforeConnect (the hook pgxpool users configure), or
// go-sql-driver/mysql through the mysql Hook's Connector. Call the returned func to close the hook.
func (t *Target) Hooked(arn string, client secretsql.GetSecretValueAPI) (driver.Connector, func(), error) {
	opts := []secretsql.Option{secretsql.WithClient(client)}
	if t.Engine == testdb.EnginePostgres {
		hook, err := postgres.NewHook(arn, opts...)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := t.pgConfig("placeholder") // the hook sets the user
		if err != nil {
			hook.Close()
			return nil, nil, err
		}
		return stdlib.GetConnector(*cfg, stdlib.OptionBeforeConnect(hook.BeforeConnect)), func() { hook.Close() }, nil
	}
	hook, err := mysqlengine.NewHook(arn, opts...)
	if err != nil {
		return nil, nil, err
	}
	c, err := hook.Connector(t.myConfig("")) // the hook sets the user
	if err != nil {
		hook.Close()
		return nil, nil, err
	}
	return c, func() { hook.Close() }, nil
}

// Baseline returns the refresh-on-failure connector ([Baseline]) for the
// secret arn.
func (t *Target) Baseline(arn string, client secretsql.GetSecretValueAPI) *Baseline {
	return &Baseline{Client: client, SecretID: arn, Native: t.Raw, IsAuthError: t.IsAuthError}
}

// GoWrapperLike returns the connector modelled on the AWS Advanced Go
// Wrapper ([GoWrapperLike]) for the secret arn.
func (t *Target) GoWrapperLike(arn string, client secretsql.GetSecretValueAPI) *GoWrapperLike {
	return &GoWrapperLike{Client: client, SecretID: arn, Native: t.Raw, IsAuthError: t.IsAuthError}
}

// FreshClient returns a GetSecretValue client that, like the AWS Advanced
// Go Wrapper, builds a new Secrets Manager client for every call, loading
// the default AWS configuration (config.LoadDefaultConfig) with the
// emulator's region, credentials and HTTP client.
func (t *Target) FreshClient() secretsql.GetSecretValueAPI { return freshClient{t.SM.Config()} }

type freshClient struct{ cfg aws.Config }

func (f freshClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput,
	optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(f.cfg.Region), config.WithCredentialsProvider(f.cfg.Credentials),
		config.WithRetryMaxAttempts(f.cfg.RetryMaxAttempts))
	if err != nil {
		return nil, err
	}
	cfg.HTTPClient = f.cfg.HTTPClient // the emulator's (see smtest.Server.Config)
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = f.cfg.BaseEndpoint }).
		GetSecretValue(ctx, in, optFns...)
}

// IsAuthError reports whether err means the server rejected the
// credentials, as secretsql's engine decides it.
func (t *Target) IsAuthError(err error) bool {
	if t.Engine == testdb.EnginePostgres {
		return drivertest.Engine("postgres").IsAuthError(err)
	}
	return drivertest.Engine("mysql").IsAuthError(err)
}

// IsTooManyConnections reports whether err means the server had no
// connection slot left (PostgreSQL SQLSTATE 53300, MariaDB error 1040).
func IsTooManyConnections(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "53300"
	}
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1040
}

// sessions counts the server's sessions of user.
func (t *Target) sessions(ctx context.Context, user string) (int, error) {
	q := "SELECT count(*) FROM pg_stat_activity WHERE usename = $1"
	if t.Engine == testdb.EngineMariaDB {
		q = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?"
	}
	var n int
	err := t.DB.Admin.QueryRowContext(ctx, q, user).Scan(&n)
	return n, err
}

// waitSessionsGone waits (at most 10 s) until user has no session left, so
// that the next measurement finds the server's connection slots free.
func (t *Target) waitSessionsGone(ctx context.Context, user string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if n, err := t.sessions(ctx, user); err != nil || n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CountingClient counts the GetSecretValue calls made through it.
type CountingClient struct {
	Client secretsql.GetSecretValueAPI
	calls  atomic.Int64
}

// GetSecretValue counts the call and passes it on.
func (c *CountingClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput,
	optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.calls.Add(1)
	return c.Client.GetSecretValue(ctx, in, optFns...)
}

// Calls returns the number of calls so far.
func (c *CountingClient) Calls() int64 { return c.calls.Load() }

// Reset zeroes the count.
func (c *CountingClient) Reset() { c.calls.Store(0) }
