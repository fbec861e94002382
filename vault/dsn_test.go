package vault

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/secretsql/secretsql/credential"
)

func TestValidatePath(t *testing.T) {
	for _, p := range []string{
		"database/creds/app", "database/static-creds/app", "secret/data/prod/app",
		"kv/app", "db-prod/creds/app.v2", "secret/data/a_b/c-d@e",
	} {
		if err := validatePath(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	for _, p := range []string{
		"", "/database/creds/app", "//vault.example/x", "database/creds/app/", "v1/database/creds/app",
		"sys/leases/revoke", "sys", "auth/token/create", "database/../sys/seal", "./x", "a//b",
		"a b", "a\nb", "a\\b", "a?b", "a#b", "a%2e%2e/b", strings.Repeat("a", 2000),
	} {
		if err := validatePath(p); err == nil {
			t.Errorf("%q: accepted", p)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:8200")
	t.Setenv("VAULT_TOKEN", "")
	t.Setenv("VAULT_NAMESPACE", "")
	open1 := func(path string, q url.Values) (*Source, error) {
		src, err := openDSN(credential.DSN{Scheme: "vault", Opaque: path, Query: q})
		if err != nil {
			return nil, err
		}
		s := src.(*Source)
		t.Cleanup(func() { s.Close() })
		return s, nil
	}
	a, err := open1("database/creds/app", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := open1("database/creds/app", url.Values{"auth": {"token"}})
	c, _ := open1("database/creds/app", url.Values{"namespace": {"team"}})
	d, _ := open1("database/creds/other", nil)
	if a.Describe().Identity != b.Describe().Identity {
		t.Error("two sources of one path and token do not share")
	}
	if a.Describe().Identity == c.Describe().Identity || a.Describe().Identity == d.Describe().Identity {
		t.Error("sources of another namespace or path share")
	}
	t.Setenv("VAULT_TOKEN", "another-token")
	e, _ := open1("database/creds/app", nil)
	if a.Describe().Identity == e.Describe().Identity {
		t.Error("sources reading with another token share")
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", e.Describe(), e, e), "another-token") {
		t.Error("the token shows in Describe or the printed source")
	}
	t.Setenv("VAULT_TOKEN", "")
	if c.ns != "team" {
		t.Errorf("namespace %q", c.ns)
	}
	for _, q := range []url.Values{
		{"namespace": {"a", "b"}},
		{"namespace": {""}},
		{"namespace": {"a b"}},
		{"auth": {"nonsense"}},
	} {
		if _, err := open1("database/creds/app", q); err == nil {
			t.Errorf("%v: accepted", q)
		}
	}
	if _, _, ok := credential.Lookup("vault"); !ok {
		t.Error("the vault scheme is not registered")
	}
	t.Setenv("VAULT_ADDR", "ftp://x")
	if _, err := open1("database/creds/app", nil); err == nil {
		t.Error("an ftp:// address accepted")
	}
}

// FuzzOpen: the opener never panics, and what it accepts is a valid path.
func FuzzOpen(f *testing.F) {
	for _, s := range []string{
		"database/creds/app", "secret/data/prod/app?namespace=team", "/v1/x", "a/../b", "sys/seal",
		"database/creds/app?auth=token&token_file=/run/token", "x?namespace=a&namespace=b", "a%00b", "é/ü",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		t.Setenv("VAULT_ADDR", "http://127.0.0.1:8200")
		path, query, _ := strings.Cut(dsn, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		for k := range q {
			switch k {
			case "auth", "token_file", "role", "secret_id_file", "jwt_file", "auth_mount", "namespace":
			default:
				delete(q, k)
			}
		}
		src, err := openDSN(credential.DSN{Scheme: "vault", Opaque: path, Query: q})
		if err != nil {
			if len(err.Error()) > 2000 {
				t.Errorf("a %d-byte error", len(err.Error()))
			}
			return
		}
		s := src.(*Source)
		defer s.Close()
		if validatePath(path) != nil || strings.Contains(path, "..") || strings.HasPrefix(path, "/") {
			t.Errorf("%q accepted", path)
		}
		_ = s.String()
		_ = s.Describe()
	})
}
