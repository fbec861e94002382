package bench

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql"
)

// Baseline is a refresh-on-failure connector modelled on the policy of
// AWS's Secrets Manager JDBC wrapper (aws-secretsmanager-jdbc), built as a
// driver.Connector over the same native drivers as secretsql, to serve as
// the benchmark's baseline:
//
//   - the secret is cached (one GetSecretValue fills the cache, the cache's
//     lock serializing concurrent first connects), and connects log in with
//     the cached AWSCURRENT credentials;
//   - when the database rejects them, the failing connect itself sleeps a
//     random 50–100 ms, calls GetSecretValue for AWSCURRENT (no coalescing:
//     every failing connect makes its own call), stores the result in the
//     cache and logs in again, up to [BaselineMaxLogins] logins in all;
//   - AWSPENDING is never read, so during a rotation's setSecret→finishSecret
//     window every new connection fails.
//
// The delay and the number of logins are this benchmark's parameters, not
// measurements of the JDBC wrapper.
type Baseline struct {
	Client      secretsql.GetSecretValueAPI
	SecretID    string
	Native      func(user, password string) (driver.Connector, error)
	IsAuthError func(error) bool

	mu  sync.Mutex
	cur *baselineCreds
}

// BaselineMaxLogins is the number of logins one Baseline connect makes.
const BaselineMaxLogins = 6

type baselineCreds struct {
	native driver.Connector
}

var _ driver.Connector = (*Baseline)(nil)

// Connect logs in with the cached credentials, refreshing them after each
// authentication failure as described on [Baseline].
func (b *Baseline) Connect(ctx context.Context) (driver.Conn, error) {
	creds, err := b.cached(ctx)
	if err != nil {
		return nil, err
	}
	for login := 1; ; login++ {
		conn, err := creds.native.Connect(ctx)
		if err == nil {
			return conn, nil
		}
		if !b.IsAuthError(err) || login >= BaselineMaxLogins {
			return nil, err
		}
		t := time.NewTimer(50*time.Millisecond + rand.N(50*time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, errors.Join(err, ctx.Err())
		}
		if creds, err = b.refresh(ctx); err != nil {
			return nil, err
		}
	}
}

// Driver returns nil: database/sql only needs it for the legacy Open path.
func (b *Baseline) Driver() driver.Driver { return nil }

// cached returns the cached credentials, fetching them under the lock if
// the cache is empty.
func (b *Baseline) cached(ctx context.Context) (*baselineCreds, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil {
		return b.cur, nil
	}
	c, err := b.fetch(ctx)
	if err != nil {
		return nil, err
	}
	b.cur = c
	return c, nil
}

// refresh makes this connect's own GetSecretValue call and caches the
// result.
func (b *Baseline) refresh(ctx context.Context) (*baselineCreds, error) {
	c, err := b.fetch(ctx)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.cur = c
	b.mu.Unlock()
	return c, nil
}

func (b *Baseline) fetch(ctx context.Context) (*baselineCreds, error) {
	return fetchCreds(ctx, b.Client, b.SecretID, b.Native)
}

// fetchCreds calls GetSecretValue for the AWSCURRENT version of secretID
// and builds a native connector with its username and password.
func fetchCreds(ctx context.Context, client secretsql.GetSecretValueAPI, secretID string,
	native func(user, password string) (driver.Connector, error)) (*baselineCreds, error) {
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		return nil, err
	}
	var s struct{ Username, Password string }
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &s); err != nil {
		return nil, err
	}
	n, err := native(s.Username, s.Password)
	if err != nil {
		return nil, err
	}
	return &baselineCreds{native: n}, nil
}

// GoWrapperLike is a connector modelled on the measured behaviour of the AWS
// Advanced Go Wrapper's Secrets Manager plugin (awssql-pgx and awssql-mysql
// with plugins=awsSecretsManager, commit 877b430d of 2026-08-20, measured
// side by side with secretsql on 2026-11-30), built as a driver.Connector
// over the same native drivers as secretsql:
//
//   - the secret is cached and shared by every connect, but a connect that
//     finds the cache empty makes its own GetSecretValue call: concurrent
//     cold connects are not coalesced (N at once make up to N calls);
//   - only AWSCURRENT is read, so during a rotation's
//     setSecret→finishSecret window every new connection fails;
//   - when the database rejects the credentials, the failing connect makes
//     its own GetSecretValue call, caches the result and logs in again at
//     once, with no delay and no sharing with other connects; if that
//     second login fails, the connect fails.
//
// The drills and storms give it [Target.FreshClient], which builds a new
// AWS client for every call as the wrapper does. The wrapper's per-query
// plugin pipeline, the plugin chain it builds for each connection and its
// disregard of the connect's context are not reproduced: connections are
// the native driver's own and ctx is honoured.
type GoWrapperLike struct {
	Client      secretsql.GetSecretValueAPI
	SecretID    string
	Native      func(user, password string) (driver.Connector, error)
	IsAuthError func(error) bool

	cur atomic.Pointer[baselineCreds]
}

var _ driver.Connector = (*GoWrapperLike)(nil)

// Connect logs in with the cached credentials and, after an authentication
// failure, once more with credentials it reads itself, as described on
// [GoWrapperLike].
func (g *GoWrapperLike) Connect(ctx context.Context) (driver.Conn, error) {
	creds := g.cur.Load()
	if creds == nil { // no lock: every cold connect reads for itself
		c, err := fetchCreds(ctx, g.Client, g.SecretID, g.Native)
		if err != nil {
			return nil, err
		}
		g.cur.Store(c)
		creds = c
	}
	conn, err := creds.native.Connect(ctx)
	if err == nil || !g.IsAuthError(err) {
		return conn, err
	}
	c, ferr := fetchCreds(ctx, g.Client, g.SecretID, g.Native)
	if ferr != nil {
		return nil, errors.Join(err, ferr)
	}
	g.cur.Store(c)
	return c.native.Connect(ctx)
}

// Driver returns nil: database/sql only needs it for the legacy Open path.
func (g *GoWrapperLike) Driver() driver.Driver { return nil }
