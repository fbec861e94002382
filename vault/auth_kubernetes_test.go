package vault

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestKubernetesLogin checks the login request against a stand-in for
// Vault: it goes to auth/<mount>/login with the role and the JWT read
// (bounded, trimmed) from jwt_file at every login.
func TestKubernetesLogin(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		bodies []map[string]any
		paths  []string
	)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		bodies = append(bodies, body)
		paths = append(paths, r.Method+" "+r.URL.Path+" token="+r.Header.Get("X-Vault-Token"))
		mu.Unlock()
		if body["jwt"] == "refused.jwt.value" {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"errors":["permission denied"]}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"auth":{"client_token":"hvs.fake-` + body["jwt"].(string)[:3] + `","lease_duration":3600,"renewable":true}}`))
	}))
	defer fake.Close()

	jwtFile := filepath.Join(t.TempDir(), "token")
	write(t, jwtFile, "eyJ.first.jwt\n")
	q := map[string][]string{"auth": {"kubernetes"}, "role": {"app"}, "jwt_file": {jwtFile}, "auth_mount": {"k8s-prod"}}
	cfg, err := parseAuth(q)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := client(t, fake.URL, "hvs.caller-token-must-not-be-sent")
	a := newAuth(cfg, nil, c)
	defer a.close()
	if a.identity() != (loginIdentity{method: "kubernetes", mount: "k8s-prod", role: "app", file: jwtFile}) {
		t.Errorf("identity() = %v", a.identity())
	}
	tok, err := a.token(t.Context())
	if err != nil || tok != "hvs.fake-eyJ" {
		t.Fatalf("token() = %q, %v", tok, err)
	}
	// The JWT file is read again at the next login (a projected token is
	// rotated by the kubelet).
	replace(t, jwtFile, "second.jwt")
	a.refused(tok)
	if tok, err = a.token(t.Context()); err != nil || tok != "hvs.fake-sec" {
		t.Fatalf("token() after refused() = %q, %v", tok, err)
	}
	// Vault refuses the JWT: a 403, wrapped, without the JWT.
	replace(t, jwtFile, "refused.jwt.value")
	a.refused(tok)
	_, err = a.token(t.Context())
	if status(err) != http.StatusForbidden || strings.Contains(err.Error(), "refused.jwt") {
		t.Errorf("refused login: %v", err)
	}
	// A JWT file over 64 KiB: refused before any request.
	write(t, jwtFile, strings.Repeat("x", 100<<10))
	if _, err := a.token(t.Context()); !errors.Is(err, errTooLarge) || strings.Contains(err.Error(), "xxx") {
		t.Errorf("a 100 KiB JWT file: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 3 {
		t.Fatalf("%d login requests, want 3: %v", len(bodies), paths)
	}
	for i, jwt := range []string{"eyJ.first.jwt", "second.jwt", "refused.jwt.value"} {
		if paths[i] != "PUT /v1/auth/k8s-prod/login token=" || bodies[i]["role"] != "app" || bodies[i]["jwt"] != jwt {
			t.Errorf("login %d: %s %v", i, paths[i], bodies[i])
		}
	}
}
