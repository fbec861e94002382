package iamtest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What scripts/testbed.sh sets up.
const (
	// PostgresGroup is the NOLOGIN group role whose members log in through
	// PAM (pg_hba: host all +rds_iam … pam pamservice=PostgresPAMService),
	// as on RDS.
	PostgresGroup = "rds_iam"
	// PostgresPAMService and MariaDBPAMService are the PAM services (in
	// /etc/pam.d) that run the verifier for each server.
	PostgresPAMService = "secretsql-iam-postgres"
	MariaDBPAMService  = "secretsql-iam-mariadb"
	// Program is where the PAM services find the verifier
	// (iamtest/cmd/iamverify).
	Program = "/usr/local/libexec/secretsql-iamverify"
	// TLSDir holds the test bed's CA (ca.pem) and MariaDB's server
	// certificate and key.
	TLSDir = "/var/lib/secretsql-testbed/tls"
)

// Require makes t skip, or fail when the environment variable CI is
// "true", if the test bed's IAM part is not installed (the program, the PAM
// services and the registry directory). It does not check the servers:
// PostgresUser and MariaDBUser do.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	for _, p := range []string{Program, DefaultDir, "/etc/pam.d/" + PostgresPAMService, "/etc/pam.d/" + MariaDBPAMService, filepath.Join(TLSDir, "ca.pem")} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("iamtest: the IAM test bed is not installed (missing %s); run scripts/testbed.sh as root", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// AddKey adds a key to the test bed's registry (DefaultDir) for the
// duration of the test: NewKey fills in a random id and secret, and the key
// and its log are removed when the test ends. It calls Require first.
func AddKey(t testing.TB, k AccessKey) AccessKey {
	t.Helper()
	Require(t)
	reg := &Registry{Dir: DefaultDir}
	k, err := reg.Add(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Remove(k.AccessKeyID); err != nil {
			t.Errorf("iamtest: remove key %s: %v", k.AccessKeyID, err)
		}
	})
	return k
}

// Decisions returns the PAM program's decisions for logins with tokens of
// key id in the test bed's registry, oldest first, or fails the test.
func Decisions(t testing.TB, id string) []Decision {
	t.Helper()
	ds, err := (&Registry{Dir: DefaultDir}).Decisions(id)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// randomUser returns a login user name that no other test uses.
func randomUser() string { return "iam_" + strings.ToLower(rand.Text()[:12]) }

const opTimeout = 30 * time.Second

// PostgresUser creates, with admin (a superuser pool of the test bed's
// PostgreSQL), a login role with a random name and no password, member of
// PostgresGroup, so that it logs in only with a token; it gets all
// privileges on database if database is not empty. The role is dropped (its
// sessions ended first) when the test ends.
func PostgresUser(t testing.TB, admin *sql.DB, database string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var ok bool
	if err := admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", PostgresGroup).Scan(&ok); err != nil {
		t.Fatalf("iamtest: PostgreSQL: %v", err)
	}
	if !ok {
		requireFail(t, "group role "+PostgresGroup+" is missing on PostgreSQL")
	}
	user := randomUser()
	stmts := []string{"CREATE ROLE " + pgIdent(user) + " LOGIN IN ROLE " + pgIdent(PostgresGroup)}
	if database != "" {
		stmts = append(stmts, "GRANT ALL ON DATABASE "+pgIdent(database)+" TO "+pgIdent(user))
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		_, err1 := admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", user)
		var err2 error
		if database != "" {
			_, err2 = admin.ExecContext(ctx, "REVOKE ALL ON DATABASE "+pgIdent(database)+" FROM "+pgIdent(user))
		}
		_, err3 := admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+pgIdent(user))
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Errorf("iamtest: drop PostgreSQL role %s: %v", user, err)
		}
	})
	for _, s := range stmts {
		if _, err := admin.ExecContext(ctx, s); err != nil {
			t.Fatalf("iamtest: %s: %v", s, err)
		}
	}
	return user
}

// MariaDBUser creates, with admin (a root pool of the test bed's
// MariaDB), a user 'name'@'%' with a random name, IDENTIFIED VIA pam USING
// MariaDBPAMService and REQUIRE SSL, as RDS's AWSAuthenticationPlugin users
// are: a client logs in with a token sent by the cleartext plugin over TLS
// (go-sql-driver/mysql: allowCleartextPasswords and a TLS config such as
// TLSConfig's). It gets all privileges on database if database is not
// empty, and is dropped (its sessions killed first) when the test ends.
func MariaDBUser(t testing.TB, admin *sql.DB, database string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'pam' AND PLUGIN_STATUS = 'ACTIVE'").Scan(&n); err != nil {
		t.Fatalf("iamtest: MariaDB: %v", err)
	}
	if n == 0 {
		requireFail(t, "MariaDB has no active pam plugin (auth_pam_v1)")
	}
	user := randomUser()
	account := myIdent(user) + "@'%'"
	stmts := []string{"CREATE USER " + account + " IDENTIFIED VIA pam USING '" + MariaDBPAMService + "' REQUIRE SSL"}
	if database != "" {
		stmts = append(stmts, "GRANT ALL PRIVILEGES ON "+myIdent(database)+".* TO "+account)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		var errs []error
		rows, err := admin.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", user)
		if err == nil {
			var ids []int64
			for rows.Next() {
				var id int64
				if rows.Scan(&id) == nil {
					ids = append(ids, id)
				}
			}
			errs = append(errs, rows.Close(), rows.Err())
			for _, id := range ids {
				admin.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)) // gone already: fine
			}
		}
		_, err = admin.ExecContext(ctx, "DROP USER IF EXISTS "+account)
		errs = append(errs, err)
		if err := errors.Join(errs...); err != nil {
			t.Errorf("iamtest: drop MariaDB user %s: %v", user, err)
		}
	})
	for _, s := range stmts {
		if _, err := admin.ExecContext(ctx, s); err != nil {
			t.Fatalf("iamtest: %s: %v", s, err)
		}
	}
	return user
}

// TLSConfig returns a TLS configuration that trusts the test bed's CA
// (TLSDir/ca.pem), which signed MariaDB's certificate for 127.0.0.1 and
// localhost, with serverName as the name to verify.
func TLSConfig(serverName string) (*tls.Config, error) {
	pem, err := os.ReadFile(filepath.Join(TLSDir, "ca.pem"))
	if err != nil {
		return nil, fmt.Errorf("iamtest: the test bed's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("iamtest: no certificate in %s", filepath.Join(TLSDir, "ca.pem"))
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}, nil
}

func requireFail(t testing.TB, what string) {
	t.Helper()
	msg := "iamtest: " + what + "; run scripts/testbed.sh as root"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// pgIdent quotes a PostgreSQL identifier.
func pgIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// myIdent quotes a MariaDB identifier.
func myIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
