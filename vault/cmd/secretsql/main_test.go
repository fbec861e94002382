package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/secretsql/secretsql/internal/cli"
	"github.com/secretsql/secretsql/vault/vaulttest"
)

// TestCheckKnowsVault: this build of the command knows the vault: scheme
// (a bad path is a usage error of the vault source, not an unknown scheme).
func TestCheckKnowsVault(t *testing.T) {
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	var out, errOut bytes.Buffer
	code := cli.Main([]string{"check", "vault:/v1/database/creds/app"}, &out, &errOut)
	all := out.String() + errOut.String()
	if code != 2 || !strings.Contains(all, "the vault source refuses the DSN") {
		t.Errorf("exit %d, output:\n%s", code, all)
	}
}

// TestCheckVault: this build's check reads vault: DSNs through the Vault
// source, against a real Vault server: a dynamic role's credentials log in
// (exit 0) and their lease is revoked when check ends; a token without the
// policy exits 3 with Vault's 403 named; the token is never printed
// (that check never prints a password is internal/cli's own tests').
func TestCheckVault(t *testing.T) {
	srv := vaulttest.Start(t)
	vdb := srv.Postgres(t)
	vdb.DynamicRole(t, "app", vaulttest.DynamicRole{DefaultTTL: time.Minute})
	dsn := "vault:" + vdb.Mount + "/creds/app?host=" + vdb.DB.Host + "&port=" + strconv.Itoa(vdb.DB.Port) + "&dbname=" + vdb.DB.Database
	t.Setenv("VAULT_ADDR", srv.Addr)

	run := func(t *testing.T, token string, args ...string) (int, string) {
		t.Helper()
		t.Setenv("VAULT_TOKEN", token)
		var out, errOut bytes.Buffer
		code := cli.Main(append([]string{"check"}, args...), &out, &errOut)
		all := out.String() + errOut.String()
		if strings.Contains(all, token) {
			t.Errorf("check printed the Vault token:\n%s", all)
		}
		return code, all
	}

	t.Run("dynamic", func(t *testing.T) {
		code, out := run(t, srv.Token, dsn, "--engine", "postgres")
		if code != 0 {
			t.Fatalf("exit %d, want 0:\n%s", code, out)
		}
		if !strings.Contains(out, "v-") {
			t.Errorf("the output does not name the dynamic user:\n%s", out)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		leases, err := srv.Client.Logical().ListWithContext(ctx, "sys/leases/lookup/"+vdb.Mount+"/creds/app")
		if err != nil {
			t.Fatal(err)
		}
		if leases != nil && len(leases.Data["keys"].([]any)) > 0 {
			t.Errorf("leases left after check: %v", leases.Data["keys"])
		}
		t.Logf("exit 0:\n%s", out)
	})

	t.Run("forbidden", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		sec, err := srv.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"default"}, NoParent: true})
		if err != nil {
			t.Fatal(err)
		}
		code, out := run(t, sec.Auth.ClientToken, dsn, "--engine", "postgres")
		if code != 3 {
			t.Fatalf("exit %d, want 3:\n%s", code, out)
		}
		if !strings.Contains(out, "permission denied") && !strings.Contains(out, "403") {
			t.Errorf("the output does not say that Vault refused the token:\n%s", out)
		}
		t.Logf("exit 3:\n%s", out)
	})
}
