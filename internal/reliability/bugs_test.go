package reliability

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/testdb"
)

// Regression tests for bugs the reliability suite found in the root
// package, fixed since; docs/TESTING.md tells the story.

// TestBugConnectorFormat: fmt of a *Connector (%v, %+v, %#v, %s, %q) walks
// its unexported fields down to the native connectors it caches, and pgx's
// stdlib connector is a value holding pgconn.Config.Password, so the
// password is printed. Fix: give *Connector String, GoString and Format
// methods (and LogValue) that print only engine, secret id and stage.
func TestBugConnectorFormat(t *testing.T) {
	srv := newSM(t)
	pw := sentinelPassword()
	for _, engine := range []string{"postgres", "mysql", "sqlserver", "oracle"} {
		name := uniqueName(t)
		srv.CreateSecret(name, fmt.Sprintf(`{"engine":%q,"host":"127.0.0.1","port":1,"username":"u","password":%q,"dbname":"d"}`, engine, pw))
		db, c := openDB(t, srv, engine, name+"?"+connectTimeout(engine))
		_ = ping(db, 5*time.Second) // refused, but the native connector is built
		db.Close()
		for _, out := range fmtForms(c) {
			if strings.Contains(out, pw) || strings.Contains(out, jsonEsc(pw)) {
				t.Errorf("%s: fmt of *Connector reveals the password: %.300s…", engine, out)
				break
			}
		}
	}
}

// TestBugSecretValueReportedAsDSN: when the engine rejects a value that
// came from the secret (here SQL Server and a host with a space), Connect
// returns the engine's *DSNError as is: ErrInvalidDSN, "invalid DSN key
// host", although the DSN has no host key. Fix (Connector.native in
// connector.go): when errors.As(err, &de) and de.Key is "host", "port",
// "dbname" or "username" and the DSN did not set that key, return
// &SecretError{SecretARN: v.arn, VersionID: v.id, Key: de.Key, Reason:
// de.Reason, Kind: ErrMalformedSecret, Err: de.Err} instead.
func TestBugSecretValueReportedAsDSN(t *testing.T) {
	srv := newSM(t)
	name := uniqueName(t)
	srv.CreateSecret(name, `{"engine":"sqlserver","host":"bad host!","username":"sa","password":"PassWordValue1"}`)
	db, _ := openDB(t, srv, "sqlserver", name)
	err := ping(db, 5*time.Second)
	var se *secretsql.SecretError
	if !errors.Is(err, secretsql.ErrMalformedSecret) || !errors.As(err, &se) || se.Key != "host" {
		t.Errorf("secret with a bad host: %v; want a *SecretError for key \"host\" matching ErrMalformedSecret", err)
	}
}

// TestBugRetryBudgetShorterThanRateLimit: with the default options a
// Connect retries for about 0.75 s (backoff 50+100+200+400 ms), but forced
// fetches of a staging label are allowed once per second. When a rotation's
// setSecret comes less than about 0.5 s after the previous forced fetches
// (back-to-back rotations, or a retried rotation), every connect in that
// window gives up with ErrAuthFailed although AWSPENDING already holds the
// working password. Fix (cache.go, (*entry).recover): when the forced fetch
// of a stage (or of AWSPENDING) is rate-limited, wait for
// lastForced+minInterval (lastPendAt+minInterval) within ctx and fetch then,
// instead of returning errNothingNew at once; or, at least, make the
// default retry budget (6 attempts: 1.55 s of backoff) longer than the
// default minimum refresh interval (1 s).
func TestBugRetryBudgetShorterThanRateLimit(t *testing.T) {
	tdb := testdb.Postgres(t)
	srv := newSM(t)
	name := uniqueName(t)
	srv.CreateSecret(name, tdb.SecretJSON())
	db, _ := openDB(t, srv, "postgres", name)
	db.SetMaxIdleConns(0)
	if err := ping(db, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Rotation 1, between setSecret and finishSecret: the connect falls
	// back to AWSPENDING (two forced fetches).
	pw2 := testdb.RandomPassword()
	srv.PutSecretString(name, tdb.SecretJSONFor(tdb.User, pw2), secretsql.StagePending)
	if err := tdb.SetPassword(ctx, tdb.User, pw2); err != nil {
		t.Fatal(err)
	}
	if err := ping(db, 10*time.Second); err != nil {
		t.Fatalf("rotation 1: %v", err)
	}
	// finishSecret of rotation 1, then rotation 2 up to its setSecret,
	// right away.
	srv.PutSecretString(name, tdb.SecretJSONFor(tdb.User, pw2), secretsql.StageCurrent) // as finishSecret: AWSCURRENT holds pw2
	pw3 := testdb.RandomPassword()
	srv.PutSecretString(name, tdb.SecretJSONFor(tdb.User, pw3), secretsql.StagePending)
	if err := tdb.SetPassword(ctx, tdb.User, pw3); err != nil {
		t.Fatal(err)
	}
	if err := ping(db, 10*time.Second); err != nil {
		t.Errorf("rotation 2, less than 1 s after rotation 1: %v", err)
	}
}
