package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/drivertest"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

func TestConfigFromSecretWinsOverEnvironment(t *testing.T) {
	t.Setenv("PGUSER", "envuser")
	t.Setenv("PGPASSWORD", "envpassword")
	t.Setenv("PGHOST", "envhost")
	t.Setenv("PGPORT", "1111")
	t.Setenv("PGDATABASE", "envdb")
	c := secretsql.Credentials{Host: "db.example.com", Port: 6543, Username: `us'er\`, Database: "my db"}.WithPassword(`p'w\ "x" =y`)
	cfg, err := configOf(c, url.Values{"sslmode": {"disable"}, "application_name": {"a b'c"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != c.Host || cfg.Port != uint16(c.Port) || cfg.User != c.Username || cfg.Password != c.Password() || cfg.Database != c.Database {
		t.Fatalf("config = %s:%d %s %s, want the secret's values", cfg.Host, cfg.Port, cfg.User, cfg.Database)
	}
	if cfg.RuntimeParams["application_name"] != "a b'c" || cfg.TLSConfig != nil {
		t.Fatalf("passthrough parameters not applied: %v, TLS %v", cfg.RuntimeParams, cfg.TLSConfig != nil)
	}
}

func TestConfigRejects(t *testing.T) {
	for _, p := range []url.Values{
		{"user": {"x"}}, {"password": {"x"}}, {"PassFile": {"/x"}}, {"hostaddr": {"1.2.3.4"}},
		{"sslmode": {"bogus"}}, {"bad key": {"x"}}, {"sslmode": {"disable", "require"}}, {"connect_timeout": {"abc"}},
	} {
		_, err := postgresEngine.Prepare(p)
		if !errors.Is(err, secretsql.ErrInvalidDSN) {
			t.Errorf("%v: err = %v, want ErrInvalidDSN", p, err)
		}
	}
}

func TestIsAuthError(t *testing.T) {
	for code, want := range map[string]bool{"28P01": true, "28000": true, "3D000": false, "42501": false, "53300": false, "57P03": false} {
		err := fmt.Errorf("connect: %w", &pgconn.PgError{Code: code})
		if got := (postgresEngine).IsAuthError(err); got != want {
			t.Errorf("code %s: IsAuthError = %v, want %v", code, got, want)
		}
	}
	if (postgresEngine).IsAuthError(errors.New("password authentication failed (SQLSTATE 28P01)")) {
		t.Error("classified by message text")
	}
}

// TestRealErrorsClassified checks the classification against errors the
// real server returns through pgx: a wrong password is an auth failure, a
// missing database is not.
func TestRealErrorsClassified(t *testing.T) {
	db := testdb.Postgres(t)
	ctx := context.Background()
	for _, tt := range []struct {
		c    secretsql.Credentials
		auth bool
	}{
		{secretsql.Credentials{Host: db.Host, Port: db.Port, Username: db.User, Database: db.Database}.WithPassword("wrong"), true},
		{secretsql.Credentials{Host: db.Host, Port: db.Port, Username: db.User, Database: "no_such_db_sqt"}.WithPassword(db.Password), false},
	} {
		nc, err := drivertest.Build(postgresEngine, tt.c, url.Values{"sslmode": {"disable"}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = nc.Connect(ctx)
		if err == nil || (postgresEngine).IsAuthError(err) != tt.auth {
			t.Errorf("database %s: err = %v, auth = %v, want %v", tt.c.Database, err, !tt.auth, tt.auth)
		}
	}
}

// TestRedshiftEngine opens secretsmanager-redshift against the local
// PostgreSQL (Redshift speaks the PostgreSQL protocol): the secret must say
// redshift, and a postgres secret is refused.
func TestRedshiftEngine(t *testing.T) {
	db := testdb.Postgres(t)
	sm := smtest.NewServer()
	defer sm.Close()
	rs := sm.CreateSecret("rs", fmt.Sprintf(`{"engine":"redshift","host":%q,"port":%d,"username":%q,"password":%q,"dbname":%q}`,
		db.Host, db.Port, db.User, db.Password, db.Database))
	pg := sm.CreateSecret("pg", db.SecretJSON())
	for _, tt := range []struct {
		id   string
		want error
	}{{rs, nil}, {pg, secretsql.ErrEngineMismatch}} {
		c, err := secretsql.NewConnector("redshift", tt.id, secretsql.WithClient(sm.Client()))
		if err != nil {
			t.Fatal(err)
		}
		sdb := sql.OpenDB(c)
		err = sdb.PingContext(context.Background())
		sdb.Close()
		if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("%s: err = %v, want %v", tt.id, err, tt.want)
		}
	}
	if port, _ := redshiftEngine.Defaults(); port != 5439 {
		t.Error("redshift default port")
	}
}
