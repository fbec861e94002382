package iamtest_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secretsql/secretsql/iamtest"
	"github.com/secretsql/secretsql/internal/testdb"
)

// pgLogin logs in to the test bed's PostgreSQL as user with token as the
// password (TLS, one attempt) and returns the user the session runs as.
func pgLogin(ctx context.Context, database, user, token string) (string, error) {
	cfg, err := pgx.ParseConfig("host=127.0.0.1 port=5432 sslmode=require connect_timeout=10")
	if err != nil {
		return "", err
	}
	cfg.Database, cfg.User, cfg.Password = database, user, token
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var who string
	err = conn.QueryRow(ctx, "SELECT current_user").Scan(&who)
	return who, err
}

// myLogin logs in to the test bed's MariaDB as user with token as the
// password, sent by the cleartext plugin over TLS (verified against the
// test bed's CA) unless plain is set.
func myLogin(ctx context.Context, t *testing.T, database, user, token string, plain bool) (string, error) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.DBName = "tcp", "127.0.0.1:3306", database
	cfg.User, cfg.Passwd = user, token
	cfg.AllowCleartextPasswords = true
	cfg.Timeout = 10 * time.Second
	if !plain {
		tlsCfg, err := iamtest.TLSConfig("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLS = tlsCfg
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return "", err
	}
	conn, err := c.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	rows, err := conn.(driver.QueryerContext).QueryContext(ctx, "SELECT CURRENT_USER()", nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	v := make([]driver.Value, 1)
	if err := rows.Next(v); err != nil {
		return "", err
	}
	who, _ := v[0].([]byte)
	return string(who), nil
}

// wantPg28000 checks that err is PostgreSQL's refusal of a PAM login.
func wantPg28000(t *testing.T, what string, err error) {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Errorf("%s: got %v, want a *pgconn.PgError 28000", what, err)
		return
	}
	if pe.Code != "28000" {
		t.Errorf("%s: SQLSTATE %s (%s), want 28000", what, pe.Code, pe.Message)
	}
	t.Logf("%s: PostgreSQL answered %s %s: %s", what, pe.Severity, pe.Code, pe.Message)
}

// wantMy1045 checks that err is MariaDB's refusal of a login.
func wantMy1045(t *testing.T, what string, err error) {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Errorf("%s: got %v, want a *mysql.MySQLError 1045", what, err)
		return
	}
	if me.Number != 1045 {
		t.Errorf("%s: error %d (%s), want 1045", what, me.Number, me.Message)
	}
	t.Logf("%s: MariaDB answered %d (%s): %s", what, me.Number, string(me.SQLState[:]), me.Message)
}

// wantDecisions checks the verifier's log of key id: one decision per
// login through service, in order, each accepted or refused with a reason
// containing the given text ("" for accepted).
func wantDecisions(t *testing.T, id, service string, reasons ...string) {
	t.Helper()
	ds := iamtest.Decisions(t, id)
	if len(ds) != len(reasons) {
		t.Errorf("key %s: %d decisions, want %d: %+v", id, len(ds), len(reasons), ds)
		return
	}
	for i, d := range ds {
		if d.Service != service {
			t.Errorf("decision %d: service %q, want %q", i, d.Service, service)
		}
		switch {
		case reasons[i] == "" && !d.Accepted:
			t.Errorf("decision %d: refused (%s), want accepted", i, d.Reason)
		case reasons[i] != "" && (d.Accepted || !strings.Contains(d.Reason, reasons[i])):
			t.Errorf("decision %d: accepted=%v reason %q, want refused for %q", i, d.Accepted, d.Reason, reasons[i])
		}
	}
}

// changeByte returns token with one byte of its signature changed.
func changeByte(token string) string {
	b := []byte(token)
	i := len(b) - 10
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}

// waitPast sleeps until lifetime has passed since token's X-Amz-Date.
func waitPast(t *testing.T, token string, lifetime time.Duration) {
	t.Helper()
	i := strings.Index(token, "X-Amz-Date=")
	issued, err := time.Parse("20060102T150405Z", token[i+len("X-Amz-Date="):][:16])
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(issued.Add(lifetime + 50*time.Millisecond)))
}

// TestPostgresLogin: a member of rds_iam logs in with a fresh token
// (aws-sdk-go-v2's and botocore's) and is refused, with SQLSTATE 28000,
// with a token with one byte changed, another user's token, an expired
// token, a token for another port, and a password.
func TestPostgresLogin(t *testing.T) {
	t.Parallel()
	db := testdb.Postgres(t)
	key := iamtest.AddKey(t, iamtest.AccessKey{Region: region})
	short := iamtest.AddKey(t, iamtest.AccessKey{Region: region, Lifetime: time.Second})
	user := iamtest.PostgresUser(t, db.Admin, db.Database)
	other := iamtest.PostgresUser(t, db.Admin, db.Database)
	ctx := t.Context()

	// Refusals first: they show the accepted login below is the verifier's
	// doing, not a trust rule.
	fresh := rdsToken(t, "127.0.0.1:5432", user, key)
	_, err := pgLogin(ctx, db.Database, user, changeByte(fresh))
	wantPg28000(t, "one byte changed", err)
	_, err = pgLogin(ctx, db.Database, user, rdsToken(t, "127.0.0.1:5432", other, key))
	wantPg28000(t, "another user's token", err)
	_, err = pgLogin(ctx, db.Database, user, rdsToken(t, "127.0.0.1:5433", user, key))
	wantPg28000(t, "another port", err)
	_, err = pgLogin(ctx, db.Database, user, "not a token")
	wantPg28000(t, "a password", err)
	_, err = pgLogin(ctx, db.Database, user, rdsToken(t, "127.0.0.1:5432", user, iamtest.NewKey(iamtest.AccessKey{})))
	wantPg28000(t, "a key not in the registry", err)
	expiring := rdsToken(t, "127.0.0.1:5432", user, short)
	waitPast(t, expiring, time.Second)
	_, err = pgLogin(ctx, db.Database, user, expiring)
	wantPg28000(t, "expired (1 s lifetime)", err)

	who, err := pgLogin(ctx, db.Database, user, fresh)
	if err != nil || who != user {
		t.Fatalf("fresh token: logged in as %q, %v; want %q", who, err, user)
	}
	boto := botocore(t, "127.0.0.1", 5432, user, key, "unused")
	if who, err := pgLogin(ctx, db.Database, user, boto.RDS); err != nil || who != user {
		t.Errorf("botocore's token: logged in as %q, %v; want %q", who, err, user)
	}
	wantDecisions(t, key.AccessKeyID, iamtest.PostgresPAMService,
		"signature mismatch", "token for another user", "token for another endpoint", "", "")
	wantDecisions(t, short.AccessKeyID, iamtest.PostgresPAMService, "token expired")
}

// TestPostgresDSQL: the verifier in DSQL mode behind PostgreSQL: DbConnect
// for a user, DbConnectAdmin for the admin user, no port in the token.
func TestPostgresDSQL(t *testing.T) {
	t.Parallel()
	db := testdb.Postgres(t)
	user := iamtest.PostgresUser(t, db.Admin, db.Database)
	admin := iamtest.PostgresUser(t, db.Admin, db.Database)
	key := iamtest.AddKey(t, iamtest.AccessKey{Mode: iamtest.DSQL, Region: region, AdminUser: admin})
	ctx := t.Context()
	now := time.Now()

	for _, c := range []struct{ what, user, token string }{
		{"DbConnectAdmin for a user", user, dsqlToken(t, "127.0.0.1", iamtest.ActionDBConnectAdmin, key, now, 0)},
		{"DbConnect for the admin", admin, dsqlToken(t, "127.0.0.1", iamtest.ActionDBConnect, key, now, 0)},
		{"a token with a port", user, dsqlToken(t, "127.0.0.1:5432", iamtest.ActionDBConnect, key, now, 0)},
		{"an RDS token", user, rdsToken(t, "127.0.0.1:5432", user, key)},
		{"one byte changed", user, changeByte(dsqlToken(t, "127.0.0.1", iamtest.ActionDBConnect, key, now, 0))},
	} {
		_, err := pgLogin(ctx, db.Database, c.user, c.token)
		wantPg28000(t, c.what, err)
	}
	for _, c := range []struct{ what, user, token string }{
		{"DbConnect for a user", user, dsqlToken(t, "127.0.0.1", iamtest.ActionDBConnect, key, now, 0)},
		{"DbConnectAdmin for the admin", admin, dsqlToken(t, "localhost", iamtest.ActionDBConnectAdmin, key, now, time.Hour)},
	} {
		if who, err := pgLogin(ctx, db.Database, c.user, c.token); err != nil || who != c.user {
			t.Errorf("%s: logged in as %q, %v; want %q", c.what, who, err, c.user)
		}
	}
	wantDecisions(t, key.AccessKeyID, iamtest.PostgresPAMService,
		"wrong action", "wrong action", "token for another endpoint", "wrong credential scope", "signature mismatch", "", "")
}

// TestMariaDBLogin: a user IDENTIFIED VIA pam logs in with a fresh token
// over TLS with the cleartext plugin, and is refused, with error 1045, with
// a token with one byte changed, another user's token, an expired token,
// and without TLS.
func TestMariaDBLogin(t *testing.T) {
	t.Parallel()
	db := testdb.MariaDB(t)
	key := iamtest.AddKey(t, iamtest.AccessKey{Region: region})
	short := iamtest.AddKey(t, iamtest.AccessKey{Region: region, Lifetime: time.Second})
	user := iamtest.MariaDBUser(t, db.Admin, db.Database)
	other := iamtest.MariaDBUser(t, db.Admin, db.Database)
	ctx := t.Context()

	fresh := rdsToken(t, "127.0.0.1:3306", user, key)
	_, err := myLogin(ctx, t, db.Database, user, changeByte(fresh), false)
	wantMy1045(t, "one byte changed", err)
	_, err = myLogin(ctx, t, db.Database, user, rdsToken(t, "127.0.0.1:3306", other, key), false)
	wantMy1045(t, "another user's token", err)
	_, err = myLogin(ctx, t, db.Database, user, rdsToken(t, "127.0.0.1:5432", user, key), false)
	wantMy1045(t, "another port", err)
	expiring := rdsToken(t, "127.0.0.1:3306", user, short)
	waitPast(t, expiring, time.Second)
	_, err = myLogin(ctx, t, db.Database, user, expiring, false)
	wantMy1045(t, "expired (1 s lifetime)", err)
	_, err = myLogin(ctx, t, db.Database, user, fresh, true)
	wantMy1045(t, "a fresh token without TLS (REQUIRE SSL)", err)

	who, err := myLogin(ctx, t, db.Database, user, fresh, false)
	if err != nil || !strings.HasPrefix(who, user+"@") {
		t.Fatalf("fresh token: logged in as %q, %v; want %s@%%", who, err, user)
	}
	// Without TLS the verifier accepts the token; MariaDB refuses the
	// login (REQUIRE SSL).
	wantDecisions(t, key.AccessKeyID, iamtest.MariaDBPAMService,
		"signature mismatch", "token for another user", "token for another endpoint", "", "")
	wantDecisions(t, short.AccessKeyID, iamtest.MariaDBPAMService, "token expired")
}

// TestLongToken: pam_exec passes the program at most 511 bytes of a
// password, so a token with a session token (over 1 KB, as with role
// credentials) cannot be verified through PAM: it must be refused, with
// ErrTooLong in the verifier's log (and not accepted from its first bytes).
func TestLongToken(t *testing.T) {
	t.Parallel()
	db := testdb.Postgres(t)
	key := iamtest.AddKey(t, iamtest.AccessKey{Region: region, SessionToken: "IQoJb3JpZ2luX2VjEXAMPLE" + strings.Repeat("Z", 900)})
	user := iamtest.PostgresUser(t, db.Admin, db.Database)
	tok := rdsToken(t, "127.0.0.1:5432", user, key)
	if len(tok) <= 512 {
		t.Fatalf("token of %d bytes, want a longer one", len(tok))
	}
	_, err := pgLogin(t.Context(), db.Database, user, tok)
	wantPg28000(t, "token of "+strconv.Itoa(len(tok))+" bytes", err)
	wantDecisions(t, key.AccessKeyID, iamtest.PostgresPAMService, "too long")
}
