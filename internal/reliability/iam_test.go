package reliability

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/go-sql-driver/mysql"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/iamtest"
	"github.com/secretsql/secretsql/internal/drivertest"
	"github.com/secretsql/secretsql/internal/testdb"
)

// iamRun is how long the token scenarios run: 20 s in `make test`,
// SECRETSQL_IAM_RUN (a Go duration) for the 60 s measurements.
func iamRun(t *testing.T) time.Duration {
	if v := os.Getenv("SECRETSQL_IAM_RUN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return 20 * time.Second
}

var registerIAMTLS sync.Once

// iamTarget makes an IAM user on engine's test bed and returns the DSN
// that logs in as it (scheme iam or dsql), in region us-east-1.
func iamTarget(t *testing.T, engine, scheme string) (dsn string, tdb *testdb.DB) {
	t.Helper()
	iamtest.Require(t)
	tdb = testdb.Open(t, engine)
	switch engine {
	case testdb.EnginePostgres:
		user := iamtest.PostgresUser(t, tdb.Admin, tdb.Database)
		if scheme == "dsql" {
			return "dsql://" + user + "@127.0.0.1/" + tdb.Database + "?region=us-east-1", tdb
		}
		return "iam://" + user + "@127.0.0.1:" + strconv.Itoa(tdb.Port) + "/" + tdb.Database + "?region=us-east-1", tdb
	default:
		registerIAMTLS.Do(func() {
			cfg, err := iamtest.TLSConfig("127.0.0.1")
			if err == nil {
				err = mysql.RegisterTLSConfig("iamtestbed", cfg)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
		user := iamtest.MariaDBUser(t, tdb.Admin, tdb.Database)
		return "iam://" + user + "@127.0.0.1:" + strconv.Itoa(tdb.Port) + "/" + tdb.Database + "?region=us-east-1&tls=iamtestbed", tdb
	}
}

// staticAWS is an AWS configuration that signs with key.
func staticAWS(key iamtest.AccessKey) aws.Config {
	return aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, "")}
}

// tokenLoad runs 50 workers on a churning pool of engine for dsn for run
// and fails the test on any failed query; it returns the events seen.
func tokenLoad(t *testing.T, engine, dsn string, run time.Duration, opts ...secretsql.Option) (*events, int64, int64) {
	t.Helper()
	ev := &events{}
	var connects atomic.Int64
	db := openPool(t, engine, dsn, &connects, append(opts, secretsql.WithObserver(ev.observe))...)
	l := testdb.StartLoad(50, testdb.SelectOne(db))
	time.Sleep(run)
	failures := l.Stop()
	for i, f := range failures {
		if i < 5 {
			t.Errorf("query failed: %v", f.Err)
		}
	}
	if len(failures) > 0 {
		t.Errorf("%d failed queries", len(failures))
	}
	return ev, l.Queries(), connects.Load()
}

// TestIAMTokenExpiry: the verifier accepts a token for 5 s only (RDS's
// 15 minutes made seconds); 50 workers on a churning pool keep querying
// PostgreSQL and MariaDB through iam:// with no failed query: a rejected
// token is signed again inside the connect, once for every connect
// waiting, so tokens are signed about once per lifetime, not per connect.
func TestIAMTokenExpiry(t *testing.T) {
	run := iamRun(t)
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			key := iamtest.AddKey(t, iamtest.AccessKey{Region: "us-east-1", Lifetime: 5 * time.Second})
			dsn, _ := iamTarget(t, engine, "iam")
			ev, queries, connects := tokenLoad(t, engine, dsn, run, secretsql.WithAWSConfig(staticAWS(key)))
			signed, rejected := ev.count(secretsql.EventFetch), ev.count(secretsql.EventAuthFailed)
			t.Logf("%s, iam://, tokens accepted for 5 s, 50 workers for %s: %d queries, 0 failed, %d connections, "+
				"%d tokens signed, %d rejected logins", engine, run, queries, connects, signed, rejected)
			lifetimes := int(run / (5 * time.Second))
			if rejected == 0 {
				t.Error("no login was rejected: the verifier's 5 s lifetime did not apply")
			}
			if signed > 4*(lifetimes+1) || int64(signed)*4 > connects {
				t.Errorf("%d tokens signed for %d lifetimes and %d connections", signed, lifetimes, connects)
			}
		})
	}
}

// expiringKeys is an AWS credentials provider of the test's own: the
// access key of period k is keys[k], expiring at the end of the period,
// when the test bed forgets it (so a token it signed is refused from then
// on, as RDS refuses a token past its signing credentials' expiry).
type expiringKeys struct {
	start  time.Time
	period time.Duration
	keys   []iamtest.AccessKey
	gets   atomic.Int64
}

func (p *expiringKeys) Retrieve(context.Context) (aws.Credentials, error) {
	p.gets.Add(1)
	k := int(time.Since(p.start) / p.period)
	if k >= len(p.keys) {
		return aws.Credentials{}, errors.New("no key left")
	}
	return aws.Credentials{AccessKeyID: p.keys[k].AccessKeyID, SecretAccessKey: p.keys[k].SecretAccessKey,
		CanExpire: true, Expires: p.start.Add(time.Duration(k+1) * p.period)}, nil
}

// TestIAMSigningCredentialsExpire: the AWS credentials that sign tokens
// expire every 10 s and the test bed forgets each key when it expires; 50
// workers on PostgreSQL through iam://: no failed query, and no login
// rejected, because no token is used past its credentials' expiry.
func TestIAMSigningCredentialsExpire(t *testing.T) {
	run := iamRun(t)
	const period = 10 * time.Second
	p := &expiringKeys{period: period}
	reg := &iamtest.Registry{Dir: iamtest.DefaultDir}
	iamtest.Require(t)
	for range int(run/period) + 2 {
		k, err := reg.Add(iamtest.NewKey(iamtest.AccessKey{Region: "us-east-1"}))
		if err != nil {
			t.Fatal(err)
		}
		p.keys = append(p.keys, k)
	}
	var removed atomic.Int64
	dsn, _ := iamTarget(t, testdb.EnginePostgres, "iam")
	p.start = time.Now()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the test bed forgets each key at its expiry
		defer close(done)
		for k, key := range p.keys {
			select {
			case <-stop:
			case <-time.After(time.Until(p.start.Add(time.Duration(k+1) * period))):
			}
			if err := reg.Remove(key.AccessKeyID); err != nil {
				t.Error(err)
			}
			removed.Add(1)
		}
	}()
	ev, queries, connects := tokenLoad(t, testdb.EnginePostgres, dsn, run,
		secretsql.WithAWSConfig(aws.Config{Region: "us-east-1", Credentials: p}))
	close(stop)
	<-done
	signed, rejected := ev.count(secretsql.EventFetch), ev.count(secretsql.EventAuthFailed)
	t.Logf("iam://, signing credentials expiring every %s, 50 workers for %s: %d queries, 0 failed, %d connections, "+
		"%d tokens signed, %d credentials retrieved, %d rejected logins, %d keys expired during the run", period, run, queries,
		connects, signed, p.gets.Load(), rejected, int(run/period))
	if rejected != 0 {
		t.Errorf("%d logins rejected: a token was used past its signing credentials' expiry", rejected)
	}
	if periods := int(run / period); signed < periods || signed > 3*(periods+1) {
		t.Errorf("%d tokens signed for %d credential periods", signed, periods)
	}
}

// TestIAMColdStorm: 80 concurrent first connects through iam:// sign one
// token.
func TestIAMColdStorm(t *testing.T) {
	key := iamtest.AddKey(t, iamtest.AccessKey{Region: "us-east-1"})
	dsn, tdb := iamTarget(t, testdb.EnginePostgres, "iam")
	drivertest.WaitForFreeConnections(t, tdb, 80)
	var ev events
	c, err := secretsql.NewConnector("postgres", dsn, secretsql.WithAWSConfig(staticAWS(key)), secretsql.WithObserver(ev.observe))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxIdleConns(80)
	var wg sync.WaitGroup
	var failed atomic.Int64
	release := make(chan struct{})
	var held sync.WaitGroup
	for range 80 {
		wg.Add(1)
		held.Add(1)
		go func() {
			defer wg.Done()
			conn, err := db.Conn(context.Background())
			held.Done()
			if err != nil {
				failed.Add(1)
				t.Error(err)
				return
			}
			defer conn.Close()
			<-release
		}()
	}
	held.Wait()
	close(release)
	wg.Wait()
	signed := ev.count(secretsql.EventFetch)
	t.Logf("iam:// cold storm: 80 concurrent connects, %d failed, %d token(s) signed", failed.Load(), signed)
	if signed != 1 || failed.Load() != 0 {
		t.Errorf("%d tokens signed, %d failed; want 1 and 0", signed, failed.Load())
	}
}

// TestDSQLTokenExpiry: dsql:// against the test bed's verifier in DSQL
// mode (DbConnect, no port, tokens accepted for 5 s), 50 workers on
// PostgreSQL: no failed query. token_lifetime=5s makes the tokens say so,
// so they are signed again ahead of their end.
func TestDSQLTokenExpiry(t *testing.T) {
	run := iamRun(t)
	key := iamtest.AddKey(t, iamtest.AccessKey{Region: "us-east-1", Mode: iamtest.DSQL, Lifetime: 5 * time.Second})
	dsn, _ := iamTarget(t, testdb.EnginePostgres, "dsql")
	ev, queries, connects := tokenLoad(t, testdb.EnginePostgres, dsn+"&token_lifetime=5s", run, secretsql.WithAWSConfig(staticAWS(key)))
	signed, rejected := ev.count(secretsql.EventFetch), ev.count(secretsql.EventAuthFailed)
	t.Logf("dsql://, tokens of 5 s, 50 workers for %s: %d queries, 0 failed, %d connections, %d tokens signed, %d rejected logins",
		run, queries, connects, signed, rejected)
	if lifetimes := int(run / (5 * time.Second)); signed < lifetimes || signed > 4*(lifetimes+1) {
		t.Errorf("%d tokens signed for %d lifetimes", signed, lifetimes)
	}
}
