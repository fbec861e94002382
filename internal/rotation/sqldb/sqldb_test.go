package sqldb_test

import (
	"context"
	"strings"
	"testing"

	"github.com/secretsql/secretsql/internal/rotation/sqldb"
	"github.com/secretsql/secretsql/internal/testdb"
)

func TestFromSecret(t *testing.T) {
	cases := []struct {
		secret string
		want   sqldb.DB
		err    string
	}{
		{`{"engine":"postgres","host":"db","port":5433,"dbname":"app"}`, sqldb.DB{Family: "postgres", Host: "db", Port: 5433, Database: "app"}, ""},
		{`{"engine":"postgres","host":"db"}`, sqldb.DB{Family: "postgres", Host: "db", Port: 5432, Database: "postgres"}, ""},
		{`{"engine":"redshift","host":"wh","port":"5439"}`, sqldb.DB{Family: "postgres", Host: "wh", Port: 5439}, ""},
		{`{"engine":"mariadb","host":"m","port":"3307"}`, sqldb.DB{Family: "mysql", Host: "m", Port: 3307}, ""},
		{`{"engine":"aurora-mysql","host":"m","dbname":"x"}`, sqldb.DB{Family: "mysql", Host: "m", Port: 3306, Database: "x"}, ""},
		{`{"engine":"sqlserver","host":"s"}`, sqldb.DB{}, `engine "sqlserver" has no local rotation`},
		{`{"host":"s"}`, sqldb.DB{}, `no "engine" key`},
		{`{"engine":"postgres"}`, sqldb.DB{}, `no "host" key`},
		{`{"engine":"postgres","host":"h","port":"x"}`, sqldb.DB{}, "not a TCP port"},
		{`[1]`, sqldb.DB{}, "not a JSON object"},
	}
	for _, tc := range cases {
		got, err := sqldb.FromSecret(tc.secret)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("FromSecret(%s) error = %v, want %q", tc.secret, err, tc.err)
			}
			continue
		}
		if err != nil || *got != tc.want {
			t.Errorf("FromSecret(%s) = %+v, %v; want %+v", tc.secret, got, err, tc.want)
		}
	}
}

// wantRejected asserts that the server refused a login as user with
// password, by its authentication error code.
func wantRejected(t *testing.T, db *sqldb.DB, user, password string) {
	t.Helper()
	if err := db.Login(t.Context(), user, password); !sqldb.IsAuthFailure(err) {
		t.Fatalf("login as %s with a wrong password: %v, want an authentication error", user, err)
	}
}

func wantLogin(t *testing.T, db *sqldb.DB, user, password string) {
	t.Helper()
	if err := db.Login(t.Context(), user, password); err != nil {
		t.Fatalf("login as %s: %v", user, err)
	}
}

func TestRotateOnRealServers(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			tdb := testdb.Open(t, engine)
			db, err := sqldb.FromSecret(tdb.SecretJSON())
			if err != nil {
				t.Fatal(err)
			}
			// The test bed enforces passwords for this user.
			wantLogin(t, db, tdb.User, tdb.Password)
			wantRejected(t, db, tdb.User, tdb.Password+"x")

			// Single user: the user changes its own password.
			newPassword := testdb.RandomPassword()
			if err := db.ChangeOwnPassword(t.Context(), tdb.User, tdb.Password, newPassword); err != nil {
				t.Fatal(err)
			}
			wantRejected(t, db, tdb.User, tdb.Password)
			wantLogin(t, db, tdb.User, newPassword)
			if err := db.ChangeOwnPassword(t.Context(), tdb.User, tdb.Password, "x"); err == nil {
				t.Fatal("ChangeOwnPassword with a wrong old password succeeded")
			}

			// Alternating users: the admin creates the clone, then only
			// changes its password.
			clone := tdb.User + "_clone"
			adminUser := map[string]string{testdb.EnginePostgres: "postgres", testdb.EngineMariaDB: "root"}[engine]
			t.Cleanup(func() {
				if err := db.DropUserAs(context.WithoutCancel(t.Context()), adminUser, "", clone); err != nil {
					t.Error(err)
				}
			})
			first, second := testdb.RandomPassword(), testdb.RandomPassword()
			if err := db.CloneUserAs(t.Context(), adminUser, "", tdb.User, clone, first); err != nil {
				t.Fatal(err)
			}
			wantLogin(t, db, clone, first)
			wantRejected(t, db, clone, second)
			if err := db.CloneUserAs(t.Context(), adminUser, "", tdb.User, clone, second); err != nil {
				t.Fatal(err)
			}
			wantRejected(t, db, clone, first)
			wantLogin(t, db, clone, second)
			// The clone has the privileges of the user on its database.
			cloneDB := *db
			cloneDB.Database = tdb.Database
			if err := cloneDB.Login(t.Context(), clone, second); err != nil {
				t.Fatalf("the clone cannot open the user's database: %v", err)
			}
			if err := db.SetPassword(t.Context(), tdb.User, "x"); err == nil {
				t.Fatal("SetPassword without admin credentials succeeded")
			}
		})
	}
}
