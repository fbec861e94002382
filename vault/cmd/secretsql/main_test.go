package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/secretsql/secretsql/internal/cli"
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
