package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/secretsql/secretsql/credential"
	"github.com/secretsql/secretsql/internal/testdb"
)

// testScheme is the DSN scheme this file registers, as a package such as
// github.com/secretsql/secretsql/vault registers its own: check knows it
// through credential.Lookup, like any scheme of an imported package.
const testScheme = "testscheme"

// A DSN of the scheme is testscheme:MODE/KEY: KEY names the test bed
// credentials a test put in schemeCreds, MODE what the source does with
// them:
//
//	ok        hands them out, engine included
//	noengine  hands them out without the engine
//	nohost    hands them out without host, port and database (the DSN has them)
//	wrong     hands them out with another password
//	fail      fails every read with an error of its own
var (
	registerOnce sync.Once
	schemeCreds  sync.Map // KEY → *testdb.DB
)

// schemeSource is the source of one testscheme: DSN.
type schemeSource struct {
	mode string
	db   *testdb.DB
	dsn  string

	mu    sync.Mutex
	reads int
}

// errSchemeDown is what the source of mode fail returns, a plain error
// of its own (no secretsql sentinel), as a third-party source would.
var errSchemeDown = errors.New("testscheme: the credential service is down")

func (s *schemeSource) Fetch(ctx context.Context, r credential.Request) (credential.Credential, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	if s.mode == "fail" {
		return credential.Credential{}, errSchemeDown
	}
	c := credential.Credential{Username: s.db.User, Host: s.db.Host, Port: s.db.Port, Database: s.db.Database,
		Engine: testdb.EnginePostgres, Version: "v1"}
	pw := s.db.Password
	switch s.mode {
	case "noengine":
		c.Engine = ""
	case "nohost":
		c.Host, c.Port, c.Database = "", 0, ""
	case "wrong":
		pw = "wrong-" + pw
	}
	return c.WithPassword(pw), nil
}

// Describe shares one cache entry between the readers of one DSN (check's
// probe and the engine's Connector), as a real scheme's source would.
func (s *schemeSource) Describe() credential.Description {
	return credential.Description{Name: testScheme, Identity: s.dsn, MinInterval: 0}
}

func registerTestScheme() {
	registerOnce.Do(func() {
		credential.RegisterScheme(testScheme, func(dsn credential.DSN) (credential.Source, error) {
			mode, key, ok := strings.Cut(dsn.Opaque, "/")
			db, found := schemeCreds.Load(key)
			if !ok || !found {
				return nil, fmt.Errorf("testscheme: no credentials %q (MODE/KEY)", dsn.Opaque)
			}
			return &schemeSource{mode: mode, db: db.(*testdb.DB), dsn: dsn.Opaque}, nil
		})
	})
}

// schemeDSN registers db's credentials and returns the DSN of mode for them.
func schemeDSN(t *testing.T, db *testdb.DB, mode string) string {
	t.Helper()
	key := db.Database // unique per test
	schemeCreds.Store(key, db)
	t.Cleanup(func() { schemeCreds.Delete(key) })
	return testScheme + ":" + mode + "/" + key
}

// TestCheckRegisteredScheme: check opens a DSN of a scheme registered with
// credential.RegisterScheme (not one of secretsql's own) through the
// library, takes the engine from the credentials, connects to the test
// bed's PostgreSQL with them, and reports the scheme as the source, never
// the password. Its failures get hints about that source, none about
// Secrets Manager, AWS or files.
func TestCheckRegisteredScheme(t *testing.T) {
	registerTestScheme()
	isolateEnv(t, nil)
	db := testdb.Postgres(t)
	never := []string{db.Password}
	notOurs := []string{"AWSPENDING", "AWSCURRENT", "GetSecretValue", "secretsmanager", "credentials chain", "RDS-managed", "the file", "kms:"}
	hints := func(r result) string { return strings.Join(decodeReport(t, r).Hints, "\n") }

	t.Run("ok", func(t *testing.T) {
		dsn := schemeDSN(t, db, "ok")
		r := cli(t, never, "check", dsn, "--json", "--timeout", "30s")
		wantCode(t, r, exitOK)
		rep := decodeReport(t, r)
		if rep.SecretID != dsn || rep.Source != testScheme || rep.Engine != "postgres" || rep.EngineSource != "secret" ||
			rep.User != db.User || rep.Host != db.Host || rep.Port != db.Port || rep.Database != db.Database ||
			rep.Password != "[REDACTED]" || rep.VersionID != "v1" || rep.Region != "" || rep.Endpoint != "" || rep.Rotation != nil {
			t.Errorf("report = %+v", rep)
		}
		if len(rep.Fetches) != 1 || rep.Fetches[0].Source != testScheme || rep.Fetches[0].Error != "" {
			t.Errorf("fetches = %+v, want one read of the source (the probe's serves the engine's Connector)", rep.Fetches)
		}

		r = cli(t, never, "check", dsn, "--timeout", "30s")
		wantCode(t, r, exitOK)
		wantContains(t, r, "source     "+testScheme+"\n", "OK: connected to postgres at "+db.Host)
		wantLacks(t, r, "AWSCURRENT", "region", "endpoint")
	})

	t.Run("noengine", func(t *testing.T) {
		dsn := schemeDSN(t, db, "noengine")
		r := cli(t, never, "check", dsn, "--json")
		wantCode(t, r, exitUsage)
		if h := hints(r); !strings.Contains(h, "--engine") || !strings.Contains(decodeReport(t, r).Error, "the testscheme: source does not say which engine") {
			t.Errorf("report = %+v", decodeReport(t, r))
		}
		wantLacks(t, r, notOurs...)
		r = cli(t, never, "check", dsn, "--engine", "postgres", "--timeout", "30s")
		wantCode(t, r, exitOK)
	})

	t.Run("nohost", func(t *testing.T) {
		dsn := schemeDSN(t, db, "nohost")
		r := cli(t, never, "check", dsn, "--json")
		wantCode(t, r, exitMalformed)
		h := hints(r)
		if !strings.Contains(h, "testscheme: source handed out credentials without a host") || !strings.Contains(h, "host=") {
			t.Errorf("hints:\n%s", h)
		}
		// (The library's own error speaks of RDS-managed secrets: the hints do not.)
		for _, s := range notOurs {
			if strings.Contains(h, s) {
				t.Errorf("hints speak of %s:\n%s", s, h)
			}
		}
		// The DSN keys the hint names supply them.
		r = cli(t, never, "check", fmt.Sprintf("%s?host=%s&port=%d&dbname=%s", dsn, db.Host, db.Port, db.Database), "--timeout", "30s")
		wantCode(t, r, exitOK)
	})

	t.Run("wrong", func(t *testing.T) {
		dsn := schemeDSN(t, db, "wrong")
		r := cli(t, append(never, "wrong-"+db.Password), "check", dsn, "--json", "--timeout", "30s")
		wantCode(t, r, exitAuthFailed)
		if h := hints(r); !strings.Contains(h, "testscheme: source handed out") {
			t.Errorf("hints:\n%s", h)
		}
		wantLacks(t, r, notOurs...)
	})

	t.Run("fail", func(t *testing.T) {
		dsn := schemeDSN(t, db, "fail")
		r := cli(t, never, "check", dsn, "--json")
		wantCode(t, r, exitUnreadable) // the source's failure, not the database's
		rep := decodeReport(t, r)
		if h := hints(r); !strings.Contains(rep.Error, errSchemeDown.Error()) || !strings.Contains(h, "testscheme: source") {
			t.Errorf("report = %+v", rep)
		}
		wantLacks(t, r, append(notOurs, "reachable from here (security groups")...)
	})

	t.Run("refused", func(t *testing.T) {
		// The opener refuses the DSN: a usage error that names the scheme.
		r := cli(t, never, "check", testScheme+":no-such-key", "--json")
		wantCode(t, r, exitUsage)
		if h := hints(r); !strings.Contains(h, "testscheme: is registered by an imported package") {
			t.Errorf("hints:\n%s", h)
		}
	})
}

// TestCheckUnknownScheme: a DSN scheme that no imported package registers
// is a usage error whose hints say that a package must be imported to
// serve it, and which package for the schemes of secretsql's other modules
// (vault: is not imported into this test binary, nor into cmd/secretsql).
func TestCheckUnknownScheme(t *testing.T) {
	isolateEnv(t, nil)
	if _, _, ok := credential.Lookup("vault"); ok {
		t.Fatal("the vault: scheme is registered in this binary: internal/cli must not import Vault's package")
	}
	for _, tc := range []struct{ dsn, want string }{
		{"nosuchscheme:x/y", `import _ \"…\"`},
		{"vault:database/creds/app", `import _ \"github.com/secretsql/secretsql/vault\"`},
	} {
		r := cli(t, nil, "check", tc.dsn, "--json")
		wantCode(t, r, exitUsage)
		rep := decodeReport(t, r)
		scheme, _, _ := strings.Cut(tc.dsn, ":")
		h := strings.Join(rep.Hints, "\n")
		if !strings.Contains(rep.Error, "unknown DSN scheme") || rep.Source != scheme ||
			!strings.Contains(h, `registers the DSN scheme "`+scheme+`:"`) || !strings.Contains(r.stdout, tc.want) {
			t.Errorf("report = %+v", rep)
		}
		r = cli(t, nil, "check", tc.dsn)
		wantCode(t, r, exitUsage)
		wantContains(t, r, "hint: no package this secretsql binary imports registers")
	}
}
