// Package sqldbtest helps tests that rotate the secrets of the test bed's
// databases (internal/testdb) check the outcome on the server itself.
package sqldbtest

import (
	"context"
	"encoding/json"
	"testing"

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
