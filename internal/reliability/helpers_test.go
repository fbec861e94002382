// Package reliability holds black-box tests of secretsql through its public
// API against the real engines, the smtest emulator and the test bed's
// databases: a matrix of bad inputs, a redaction harness, fault scenarios,
// and leak and race checks. See docs/TESTING.md.
package reliability

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql"
	_ "github.com/secretsql/secretsql/engines/all"
	"github.com/secretsql/secretsql/smtest"
)

const getOp = "GetSecretValue"

// newSM starts an emulator that lives as long as the test.
func newSM(t testing.TB) *smtest.Server {
	t.Helper()
	srv := smtest.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

var nameSeq atomic.Int64

// uniqueName returns a secret name unique in the process: the credentials
// cache is process-wide, keyed by endpoint and secret id.
func uniqueName(t testing.TB) string {
	r := strings.NewReplacer("/", "-", " ", "_", "#", "_", "'", "_", ",", "_", "(", "_", ")", "_", ":", "_")
	return fmt.Sprintf("rel/%s-%d", r.Replace(t.Name()), nameSeq.Add(1))
}

// openDB opens a sql.DB on a secretsql Connector for engine and dsn, with
// srv's client first among the options; it is closed when the test ends.
func openDB(t testing.TB, srv *smtest.Server, engine, dsn string, opts ...secretsql.Option) (*sql.DB, *secretsql.Connector) {
	t.Helper()
	c, err := secretsql.NewConnector(engine, dsn, append([]secretsql.Option{secretsql.WithClient(srv.Client())}, opts...)...)
	if err != nil {
		t.Fatalf("NewConnector(%s, %q): %v", engine, dsn, err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db, c
}

// ping pings db within d.
func ping(db *sql.DB, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return db.PingContext(ctx)
}

// putCurrent stores value as the new AWSCURRENT version of the secret, as
// PutSecretValue does (AWSPREVIOUS follows).
func putCurrent(t testing.TB, srv *smtest.Server, name, value string) string {
	t.Helper()
	return srv.PutSecretString(name, value, secretsql.StageCurrent)
}

// deleteSecret schedules the secret for deletion.
func deleteSecret(t testing.TB, srv *smtest.Server, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := srv.Client().DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: aws.String(name), RecoveryWindowInDays: aws.Int64(7),
	}); err != nil {
		t.Fatalf("DeleteSecret(%s): %v", name, err)
	}
}

// openChurningPool opens a sql.DB on a Connector for dsn (no client
// option: the DSN's source, or the SDK's default chain) whose 20
// connections live 50 ms, so that logins keep happening, and pings it.
func openChurningPool(t *testing.T, dsn string, opts ...secretsql.Option) (*sql.DB, *secretsql.Connector) {
	t.Helper()
	c, err := secretsql.NewConnector("postgres", dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(20)
	db.SetConnMaxLifetime(50 * time.Millisecond)
	if err := ping(db, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return db, c
}
