package vault

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/api"
	"github.com/secretsql/secretsql/internal/smallfile"
	"github.com/secretsql/secretsql/vault/vaulttest"
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
	authWrite(t, jwtFile, "eyJ.first.jwt\n")
	q := map[string][]string{"auth": {"kubernetes"}, "role": {"app"}, "jwt_file": {jwtFile}, "auth_mount": {"k8s-prod"}}
	cfg, err := parseAuth(q)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := authClient(t, fake.URL, "hvs.caller-token-must-not-be-sent")
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
	authReplace(t, jwtFile, "second.jwt")
	a.refused(tok)
	if tok, err = a.token(t.Context()); err != nil || tok != "hvs.fake-sec" {
		t.Fatalf("token() after refused() = %q, %v", tok, err)
	}
	// Vault refuses the JWT: a 403, wrapped, without the JWT.
	authReplace(t, jwtFile, "refused.jwt.value")
	a.refused(tok)
	_, err = a.token(t.Context())
	if authStatus(err) != http.StatusForbidden || strings.Contains(err.Error(), "refused.jwt") {
		t.Errorf("refused login: %v", err)
	}
	// A JWT file over 64 KiB: refused before any request.
	authWrite(t, jwtFile, strings.Repeat("x", 100<<10))
	if _, err := a.token(t.Context()); !errors.Is(err, smallfile.ErrTooLarge) || strings.Contains(err.Error(), "xxx") {
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

// fakeJWT returns an unsigned-looking service account JWT of
// default/app (Vault's Kubernetes auth checks no signature without
// pem_keys; the TokenReview stand-in decides).
func authFakeJWT(sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	header := enc([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims := enc([]byte(`{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:default:app",` +
		`"kubernetes.io/serviceaccount/namespace":"default","kubernetes.io/serviceaccount/service-account.name":"app",` +
		`"kubernetes.io/serviceaccount/service-account.uid":"uid-1"}`))
	return header + "." + claims + "." + enc([]byte(sig))
}

// TestKubernetesVault logs in to a real Vault's Kubernetes auth method,
// whose TokenReview calls go to a local stand-in of the Kubernetes API
// that accepts only the JWTs it was told of.
func TestKubernetesVault(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		valid    = map[string]bool{}
		reviews  int
		reviewed []string
	)
	kube := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tr struct {
			Spec struct {
				Token string `json:"token"`
			} `json:"spec"`
		}
		_ = json.NewDecoder(r.Body).Decode(&tr)
		mu.Lock()
		reviews++
		reviewed = append(reviewed, r.Method+" "+r.URL.Path)
		ok := valid[tr.Spec.Token]
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":%v,"user":{"username":"system:serviceaccount:default:app","uid":"uid-1"}}}`, ok)
	}))
	defer kube.Close()

	srv := vaulttest.Start(t)
	ctx := t.Context()
	srv.Policy(t, "authtest", `path "secret/data/authtest" { capabilities = ["read"] }`)
	srv.PutKV(t, "authtest", map[string]any{"k": "v"})
	if err := srv.Client.Sys().EnableAuthWithOptionsWithContext(ctx, "k8s", &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]map[string]any{
		"auth/k8s/config": {"kubernetes_host": kube.URL, "disable_local_ca_jwt": true,
			"kubernetes_ca_cert": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kube.Certificate().Raw})), "disable_iss_validation": true},
		"auth/k8s/role/app": {"bound_service_account_names": "app", "bound_service_account_namespaces": "default",
			"token_policies": "authtest", "token_ttl": "1h", "token_max_ttl": "2h"}, // no renewal or login of the renewer meets the count below
	} {
		if _, err := srv.Client.Logical().WriteWithContext(ctx, path, data); err != nil {
			t.Fatalf("writing %s: %v", path, err)
		}
	}

	jwt1, jwt2 := authFakeJWT("one"), authFakeJWT("two")
	mu.Lock()
	valid[jwt1] = true
	mu.Unlock()
	jwtFile := filepath.Join(t.TempDir(), "token")
	authWrite(t, jwtFile, jwt1+"\n")
	cfg, err := parseAuth(map[string][]string{"auth": {"kubernetes"}, "role": {"app"}, "jwt_file": {jwtFile}, "auth_mount": {"k8s"}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := authClient(t, srv.Addr, "")
	a := newAuth(cfg, nil, c)
	defer a.close()
	tok1, err := a.token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := authReadKV(ctx, c, tok1); err != nil {
		t.Fatalf("reading with the Kubernetes login's token: %v", err)
	}

	// The kubelet rotates the projected token; the old one stops being
	// valid. The next login (after refused()) sends the new one.
	mu.Lock()
	valid = map[string]bool{jwt2: true}
	mu.Unlock()
	authReplace(t, jwtFile, jwt2)
	a.refused(tok1)
	tok2, err := a.token(ctx)
	if err != nil || tok2 == tok1 {
		t.Fatalf("token() after the JWT rotated: %v", err)
	}
	if err := authReadKV(ctx, c, tok2); err != nil {
		t.Fatal(err)
	}

	// A JWT the API refuses: Vault's 403, wrapped, without the JWT.
	mu.Lock()
	valid = map[string]bool{}
	mu.Unlock()
	a.refused(tok2)
	_, err = a.token(ctx)
	if authStatus(err) != http.StatusForbidden || strings.Contains(err.Error(), jwt2) || strings.Contains(err.Error(), "dHdv") {
		t.Errorf("a refused JWT: %v, want a 403 without the JWT", err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d TokenReview calls: %v", reviews, reviewed)
	if reviews != 3 || reviewed[0] != "POST /apis/authentication.k8s.io/v1/tokenreviews" {
		t.Errorf("%d TokenReview calls (%v), want 3", reviews, reviewed)
	}
}
