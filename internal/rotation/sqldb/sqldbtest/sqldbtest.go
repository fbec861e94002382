// Package sqldbtest helps tests that rotate the secrets of the test bed's
// databases (internal/testdb) check the outcome on the server itself.
package sqldbtest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql/internal/rotation/sqldb"
	"github.com/secretsql/secretsql/internal/testdb"
)

// Open returns a fresh test database of engine (see [testdb.Open]) and the
// [sqldb.DB] its secret points at, after proving that the server refuses a
// wrong password for the database's user. The "<user>_clone" user that
// alternating-users rotations create is dropped when the test ends.
func Open(t testing.TB, engine string) (*testdb.DB, *sqldb.DB) {
	t.Helper()
	tdb := testdb.Open(t, engine)
	db, err := sqldb.FromSecret(tdb.SecretJSON())
	if err != nil {
		t.Fatal(err)
	}
	var admin struct{ Username, Password string }
	if err := json.Unmarshal([]byte(tdb.AdminSecretJSON()), &admin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if err := db.DropUserAs(ctx, admin.Username, admin.Password, tdb.User+"_clone"); err != nil {
			t.Error(err)
		}
	})
	Login(t, db, tdb.User, tdb.Password+"x", false)
	return tdb, db
}

// Login asserts that the server accepts a login as user with password
// exactly when accepted is true, and otherwise refuses it as a wrong
// password ([sqldb.IsAuthFailure]).
func Login(t testing.TB, db *sqldb.DB, user, password string, accepted bool) {
	t.Helper()
	if err := db.CheckLogin(context.Background(), user, password, accepted); err != nil {
		t.Fatal(err)
	}
}

// WithMaster returns a database secret's JSON with the "masterarn" key of
// alternating-users rotation added: arn names the admin secret (by ARN, or
// by name for the emulator).
func WithMaster(secretJSON, arn string) string {
	return strings.TrimSuffix(secretJSON, "}") + `,"masterarn":"` + arn + `"}`
}

// SecretCredentials reads the username and password of the version of the
// secret id that carries the staging label stage.
func SecretCredentials(t testing.TB, c *secretsmanager.Client, id, stage string) (user, password string) {
	t.Helper()
	out, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String(stage)})
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ Username, Password string }
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &s); err != nil {
		t.Fatal(err)
	}
	return s.Username, s.Password
}
