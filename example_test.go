package secretsql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secretsql/secretsql"
	_ "github.com/secretsql/secretsql/engines/postgres"
	"github.com/secretsql/secretsql/smtest"
)

// Opening the driver: the DSN is the secret's ARN or name, then optional
// secretsql keys and driver parameters. In a program:
//
//	import _ "github.com/secretsql/secretsql/engines/postgres"
//
//	db, err := sql.Open("secretsmanager-postgres", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app-AbCdEf")
//
// and the AWS SDK's default configuration (environment, profile, role)
// reads the secret at the first connect. Here the Secrets Manager emulator
// of package smtest stands in for AWS, through a driver registered with
// its client (a driver name can be registered once per process), and the
// secret names the local PostgreSQL.
func Example() {
	sm := smtest.NewServer()
	defer sm.Close()
	arn := sm.CreateSecret("prod/app", `{"engine":"postgres","host":"127.0.0.1","port":5432,`+
		`"username":"postgres","password":"example-only","dbname":"postgres"}`)
	if err := secretsql.RegisterDriver("secretsmanager-postgres-example", "postgres", secretsql.WithClient(sm.Client())); err != nil {
		log.Fatal(err)
	}

	db, err := sql.Open("secretsmanager-postgres-example", arn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	var user string
	if err := db.QueryRowContext(context.Background(), "SELECT current_user").Scan(&user); err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in as", user)
	// Output: logged in as postgres
}

// NewConnector with options, here against the in-process Secrets Manager
// emulator of package smtest. Resolve shows what a connect would use,
// without connecting.
func ExampleNewConnector() {
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("prod/app", `{"engine":"postgres","host":"db.internal","port":5432,`+
		`"username":"app","password":"s3cret!","dbname":"shop"}`)

	c, err := secretsql.NewConnector("postgres", "prod/app?sslmode=disable", secretsql.WithClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	r, err := c.Resolve(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Engine, r.Stage)
	// sql.OpenDB(c) would connect with these credentials.
	fmt.Println(r.Credentials) // the password is redacted
	// Output:
	// postgres AWSCURRENT
	// {Host:db.internal Port:5432 Username:app Password:[REDACTED] Database:shop}
}

// DSN keys override the secret: an RDS-managed secret holds only username
// and password, so host, port and dbname come from the DSN.
func ExampleNewConnector_dsnKeys() {
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("prod/master", `{"username":"postgres","password":"generated"}`)

	c, err := secretsql.NewConnector("postgres",
		"prod/master?host=mydb.abc123.eu-west-1.rds.amazonaws.com&port=5433&dbname=app&sslmode=verify-full",
		secretsql.WithClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	r, err := c.Resolve(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Credentials)
	// Output:
	// {Host:mydb.abc123.eu-west-1.rds.amazonaws.com Port:5433 Username:postgres Password:[REDACTED] Database:app}
}

// An observer sees every fetch, authentication failure and AWSPENDING
// fallback; events never hold a secret value. However many connects or
// Resolve calls there are, the secret is read once.
func ExampleWithObserver() {
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("prod/app", `{"host":"db.internal","username":"app","password":"pw"}`)

	c, err := secretsql.NewConnector("postgres", "prod/app", secretsql.WithClient(srv.Client()),
		secretsql.WithObserver(func(ev secretsql.Event) {
			fmt.Println("event:", ev.Kind, ev.Stage, ev.Err)
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		if _, err := c.Resolve(context.Background()); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("GetSecretValue calls:", srv.Calls("GetSecretValue"))
	// Output:
	// event: fetch AWSCURRENT <nil>
	// GetSecretValue calls: 1
}

// WithLogger logs through log/slog; records name the secret, the stage and
// the version, never a value.
func ExampleWithLogger() {
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("prod/app", `{"host":"db.internal","username":"app","password":"pw"}`)

	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "took", "version": // vary from run to run
				return slog.Attr{}
			}
			return a
		},
	}))
	c, err := secretsql.NewConnector("postgres", "prod/app", secretsql.WithClient(srv.Client()), secretsql.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Resolve(context.Background()); err != nil {
		log.Fatal(err)
	}
	// Output:
	// level=DEBUG msg="secretsql: fetch" engine=postgres secret=prod/app stage=AWSCURRENT source=secretsmanager region=us-east-1
}

// Errors match the exported sentinels with errors.Is, and the typed errors
// give details with errors.As.
func ExampleErrSecretNotFound() {
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("prod/rds-managed", `{"username":"app","password":"pw"}`)

	client := secretsql.WithClient(srv.Client())
	for _, id := range []string{"prod/missing", "prod/rds-managed"} {
		c, err := secretsql.NewConnector("postgres", id, client)
		if err != nil {
			log.Fatal(err)
		}
		_, err = c.Resolve(context.Background())
		c.Close()

		var fe *secretsql.FetchError
		var se *secretsql.SecretError
		switch {
		case errors.Is(err, secretsql.ErrSecretNotFound) && errors.As(err, &fe):
			fmt.Println(id+": not found; AWS error code", fe.Code)
		case errors.Is(err, secretsql.ErrAccessDenied):
			fmt.Println(id + ": grant secretsmanager:GetSecretValue")
		case errors.Is(err, secretsql.ErrMissingKey) && errors.As(err, &se):
			fmt.Println(id+": the secret lacks", se.Key+"; add it to the DSN")
		}
	}
	// Output:
	// prod/missing: not found; AWS error code ResourceNotFoundException
	// prod/rds-managed: the secret lacks host; add it to the DSN
}

// A Cache of its own isolates a group of Connectors (a tenant, a test) from
// the process-wide default cache, and can be closed. Connectors on it that
// read a secret with the same client share one GetSecretValue call.
func ExampleNewCache() {
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("tenant-a/db", `{"engine":"postgres","host":"db.internal","username":"app","password":"pw"}`)
	client := srv.Client()

	cache := secretsql.NewCache()
	defer cache.Close()
	for range 3 {
		c, err := secretsql.NewConnector("postgres", "tenant-a/db", secretsql.WithClient(client), secretsql.WithCache(cache))
		if err != nil {
			log.Fatal(err)
		}
		if _, err := c.Resolve(context.Background()); err != nil {
			log.Fatal(err)
		}
		c.Close() // the secret stays cached for the next Connector
	}
	fmt.Println(srv.Calls("GetSecretValue"), "GetSecretValue call")
	// Output: 1 GetSecretValue call
}

// RegisterDriver gives options to code that takes only a driver name and a
// DSN (an ORM's configuration file, a migration tool): here a logger, and
// the client of the Secrets Manager emulator.
func ExampleRegisterDriver() {
	sm := smtest.NewServer()
	defer sm.Close()
	sm.CreateSecret("prod/app", `{"engine":"postgres","host":"127.0.0.1","port":5432,`+
		`"username":"postgres","password":"example-only","dbname":"postgres"}`)

	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "took", "version": // vary from run to run
				return slog.Attr{}
			}
			return a
		},
	}))
	err := secretsql.RegisterDriver("postgres-logged", "postgres", secretsql.WithLogger(logger), secretsql.WithClient(sm.Client()))
	if err != nil {
		log.Fatal(err)
	}
	db, err := sql.Open("postgres-logged", "prod/app")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ping ok")
	// Output:
	// level=DEBUG msg="secretsql: fetch" engine=postgres secret=prod/app stage=AWSCURRENT source=secretsmanager region=us-east-1
	// ping ok
}

// TestEveryExampleHasOutput: every Example of the repository (every module:
// the walk starts at the repository root) has an "// Output:" comment, so
// that go test runs it and checks what it prints, instead of only
// compiling it.
func TestEveryExampleHasOutput(t *testing.T) {
	fset := token.NewFileSet()
	var n int
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (name == "testdata" || name == "vendor" || name == "bin" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		for _, ex := range doc.Examples(f) {
			n++
			if ex.Output == "" && !ex.EmptyOutput {
				t.Errorf("%s: Example%s has no // Output: comment, so go test only compiles it", path, ex.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("found no Example: the walk missed the test files")
	}
	t.Logf("%d Examples", n)
}
