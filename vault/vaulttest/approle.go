package vaulttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// AppRole is a role of an AppRole auth mount of a [Server].
type AppRole struct {
	// Server is the Vault server the mount is on.
	Server *Server
	// Mount is the auth mount path, e.g. "approle-1" (its routes are
	// auth/<Mount>/…).
	Mount string
	// Role is the role's name and RoleID its role_id.
	Role, RoleID string
}

// AppRoleConfig is the configuration of an AppRole role's tokens.
type AppRoleConfig struct {
	// TokenTTL and TokenMaxTTL are the TTL and the max TTL of the tokens
	// of a login (Vault's defaults, the mount's, when zero).
	TokenTTL, TokenMaxTTL time.Duration
	// Policies are the tokens' policies (besides "default").
	Policies []string
	// BatchTokens makes the logins issue batch tokens (not renewable).
	BatchTokens bool
}

// Policy writes the ACL policy name with rules (HCL).
func (s *Server) Policy(t testing.TB, name, rules string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	if err := s.Client.Sys().PutPolicyWithContext(ctx, name, rules); err != nil {
		t.Fatalf("vaulttest: writing policy %s: %v", name, err)
	}
}

// AppRole enables the AppRole auth method at a new mount path
// ("approle-N") and creates role there with cfg. Logins then go to
// auth/<Mount>/login with RoleID and a secret ID of [AppRole.SecretID].
func (s *Server) AppRole(t testing.TB, role string, cfg AppRoleConfig) *AppRole {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	r := &AppRole{Server: s, Mount: s.nextMount("approle"), Role: role}
	if err := s.Client.Sys().EnableAuthWithOptionsWithContext(ctx, r.Mount, &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatalf("vaulttest: enabling approle at %s: %v", r.Mount, err)
	}
	data := map[string]any{"token_policies": cfg.Policies}
	if cfg.TokenTTL > 0 {
		data["token_ttl"] = seconds(cfg.TokenTTL)
	}
	if cfg.TokenMaxTTL > 0 {
		data["token_max_ttl"] = seconds(cfg.TokenMaxTTL)
	}
	if cfg.BatchTokens {
		data["token_type"] = "batch"
	}
	path := fmt.Sprintf("auth/%s/role/%s", r.Mount, role)
	if _, err := s.Client.Logical().WriteWithContext(ctx, path, data); err != nil {
		t.Fatalf("vaulttest: writing %s: %v", path, err)
	}
	sec, err := s.Client.Logical().ReadWithContext(ctx, path+"/role-id")
	if err != nil || sec == nil {
		t.Fatalf("vaulttest: reading %s/role-id: %v", path, err)
	}
	r.RoleID = str(sec.Data, "role_id")
	if r.RoleID == "" {
		t.Fatalf("vaulttest: %s/role-id has no role_id", path)
	}
	return r
}

// SecretID returns a new secret ID of the role.
func (r *AppRole) SecretID(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	path := fmt.Sprintf("auth/%s/role/%s/secret-id", r.Mount, r.Role)
	sec, err := r.Server.Client.Logical().WriteWithContext(ctx, path, nil)
	if err != nil || sec == nil {
		t.Fatalf("vaulttest: writing %s: %v", path, err)
	}
	id := str(sec.Data, "secret_id")
	if id == "" {
		t.Fatalf("vaulttest: %s answered no secret_id", path)
	}
	return id
}

// Login logs in with the role's RoleID and secretID and returns the client
// token (with the root client's configuration; the root client keeps its
// token).
func (r *AppRole) Login(t testing.TB, secretID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	c, err := r.Server.Client.Clone()
	if err != nil {
		t.Fatalf("vaulttest: cloning the client: %v", err)
	}
	c.ClearToken()
	sec, err := c.Logical().WriteWithContext(ctx, "auth/"+r.Mount+"/login", map[string]any{"role_id": r.RoleID, "secret_id": secretID})
	if err != nil || sec == nil || sec.Auth == nil {
		t.Fatalf("vaulttest: logging in at auth/%s/login: %v", r.Mount, err)
	}
	return sec.Auth.ClientToken
}

// Format prints the mount and role, not the role_id.
func (r *AppRole) Format(f fmt.State, verb rune) {
	if r == nil {
		fmt.Fprint(f, "vaulttest.AppRole(nil)")
		return
	}
	fmt.Fprintf(f, "vaulttest.AppRole{Mount: %s, Role: %s}", r.Mount, r.Role)
}
