package sqldb_test

import (
	"strings"
	"testing"

	"github.com/secretsql/secretsql/internal/rotation/sqldb"
	"github.com/secretsql/secretsql/internal/rotation/sqldb/sqldbtest"
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
		if err != nil || got.Family != tc.want.Family || got.Host != tc.want.Host || got.Port != tc.want.Port ||
			got.Database != tc.want.Database || got.ConnectTimeout != 0 || got.Allow != nil {
			t.Errorf("FromSecret(%s) = %+v, %v; want %+v", tc.secret, got, err, tc.want)
		}
	}
}

func TestRotateOnRealServers(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			tdb, db := sqldbtest.Open(t, engine)
			sqldbtest.Login(t, db, tdb.User, tdb.Password, true)

			// Single user: the user changes its own password.
			newPassword := testdb.RandomPassword()
			if err := db.ChangeOwnPassword(t.Context(), tdb.User, tdb.Password, newPassword); err != nil {
				t.Fatal(err)
			}
			sqldbtest.Login(t, db, tdb.User, tdb.Password, false)
			sqldbtest.Login(t, db, tdb.User, newPassword, true)
			if err := db.ChangeOwnPassword(t.Context(), tdb.User, tdb.Password, "x"); err == nil {
				t.Fatal("ChangeOwnPassword with a wrong old password succeeded")
			}

			// Alternating users: the admin creates the clone, then only
			// changes its password.
			clone := tdb.User + "_clone"
			adminUser := map[string]string{testdb.EnginePostgres: "postgres", testdb.EngineMariaDB: "root"}[engine]
			first, second := testdb.RandomPassword(), testdb.RandomPassword()
			if err := db.CloneUserAs(t.Context(), adminUser, "", tdb.User, clone, first); err != nil {
				t.Fatal(err)
			}
			sqldbtest.Login(t, db, clone, first, true)
			sqldbtest.Login(t, db, clone, second, false)
			if err := db.CloneUserAs(t.Context(), adminUser, "", tdb.User, clone, second); err != nil {
				t.Fatal(err)
			}
			sqldbtest.Login(t, db, clone, first, false)
			sqldbtest.Login(t, db, clone, second, true)
			// The clone has the privileges of the user on its database.
			query := map[string]string{
				testdb.EnginePostgres: "SELECT has_database_privilege($1, $2, 'CREATE')",
				testdb.EngineMariaDB:  "SELECT COUNT(*) = 1 FROM mysql.db WHERE User = ? AND Db = ?",
			}[engine]
			var privileged bool
			if err := tdb.Admin.QueryRowContext(t.Context(), query, clone, tdb.Database).Scan(&privileged); err != nil || !privileged {
				t.Fatalf("the clone has no privileges on the user's database: %v, %v", privileged, err)
			}
		})
	}
}
