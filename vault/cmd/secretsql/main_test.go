package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

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

// TestCheckDynamicRole: check reads a dynamic role of a real Vault, logs
// in, and leaves no lease behind.
func TestCheckDynamicRole(t *testing.T) {
	srv := vaulttest.Start(t)
	t.Setenv("VAULT_ADDR", srv.Addr)
	t.Setenv("VAULT_TOKEN", srv.Token)
	d := srv.Postgres(t)
	d.DynamicRole(t, "app", vaulttest.DynamicRole{DefaultTTL: time.Minute})
	dsn := fmt.Sprintf("vault:%s/creds/app?host=%s&port=%d&dbname=%s&sslmode=disable", d.Mount, d.DB.Host, d.DB.Port, d.DB.Database)
	var out, errOut bytes.Buffer
	code := cli.Main([]string{"check", "--engine", "postgres", dsn}, &out, &errOut)
	all := out.String() + errOut.String()
	if code != 0 || strings.Contains(all, srv.Token) {
		t.Fatalf("exit %d, output:\n%s", code, all)
	}
	sec, err := srv.Client.Logical().ListWithContext(t.Context(), "sys/leases/lookup/"+d.Mount+"/creds/app")
	if err != nil {
		t.Fatal(err)
	}
	if sec != nil {
		t.Errorf("leases left after check: %v", sec.Data["keys"])
	}
}
