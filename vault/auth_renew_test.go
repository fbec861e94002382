package vault

import (
	"context"
	"testing"
	"time"

	"github.com/secretsql/secretsql/vault/vaulttest"
)

// TestAppRoleRenewRefused: a login token revoked behind our back is found
// out by the renewer (renew-self answers 403), which logs in anew before
// anyone calls refused().
func TestAppRoleRenewRefused(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	_, cfg := authAppRoleSetup(t, srv, vaulttest.AppRoleConfig{TokenTTL: 3 * time.Second, TokenMaxTTL: time.Hour})
	c, _ := authClient(t, srv.Addr, "")
	a := newAuth(cfg, nil, c)
	defer a.close()
	tok1, err := a.token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Client.Auth().Token().RevokeOrphanWithContext(t.Context(), tok1); err != nil {
		t.Fatal(err)
	}
	// The renewal (due at 2 s) is refused: the renewer logs in anew,
	// without anyone calling refused().
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if logins, _ := a.stats(); logins == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new login in 30 s after the token was revoked")
		}
	}
	tok2, err := a.token(t.Context())
	if err != nil || tok2 == tok1 {
		t.Fatalf("token() after a refused renewal: %v, same token %v", err, tok2 == tok1)
	}
	if err := authReadKV(t.Context(), c, tok2); err != nil {
		t.Fatalf("reading with the new token: %v", err)
	}
	if logins, renewals := a.stats(); logins != 2 || renewals != 0 {
		t.Errorf("%d logins, %d renewals, want 2 and 0", logins, renewals)
	}
}

// TestAppRoleBatch: batch tokens cannot be renewed; they are replaced by
// a new login at 2/3 of their TTL, and none is handed out expired.
func TestAppRoleBatch(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	_, cfg := authAppRoleSetup(t, srv, vaulttest.AppRoleConfig{TokenTTL: 3 * time.Second, TokenMaxTTL: 3 * time.Second, BatchTokens: true})
	c, _ := authClient(t, srv.Addr, "")
	a := newAuth(cfg, nil, c)
	defer a.close()
	end := time.Now().Add(7 * time.Second)
	for time.Now().Before(end) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		tok, err := a.token(ctx)
		if err == nil {
			err = authReadKV(ctx, c, tok)
		}
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	logins, renewals := a.stats()
	t.Logf("7 s of 3 s batch tokens: %d logins, %d renewals", logins, renewals)
	if logins < 3 || renewals != 0 {
		t.Errorf("%d logins, %d renewals, want >= 3 and 0", logins, renewals)
	}
}
