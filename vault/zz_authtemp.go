package vault

// TEMPORARY: a minimal stand-in for the login part (auth.go, branch
// vaultauth), token method only. Delete this file when merging auth.go.

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/hashicorp/vault/api"
)

type authConfig struct {
	Method, TokenFile, Role, SecretIDFile, JWTFile, Mount string
}

func parseAuth(q url.Values) (authConfig, error) {
	var cfg authConfig
	for k, v := range q {
		if len(v) != 1 {
			return cfg, errors.New("vault: the DSN key " + k + " is given more than once")
		}
		switch k {
		case "auth":
			if v[0] != "" && v[0] != "token" {
				return cfg, errors.New("vault: auth=" + v[0] + " is not supported (token)")
			}
		case "token_file":
			if !strings.HasPrefix(v[0], "/") {
				return cfg, errors.New("vault: token_file must be an absolute path")
			}
			cfg.TokenFile = v[0]
		default:
			return cfg, errors.New("vault: the DSN key " + k + " is not supported")
		}
	}
	cfg.Method = "token"
	return cfg, nil
}

type auth struct {
	cfg    authConfig
	method api.AuthMethod
	env    string
	mu     sync.Mutex
}

func newAuth(cfg authConfig, method api.AuthMethod, c *api.Client) *auth {
	return &auth{cfg: cfg, method: method, env: c.Token()}
}

type tempIdentity struct {
	kind string
	key  [32]byte
	m    api.AuthMethod
}

func (a *auth) identity() any {
	switch {
	case a.method != nil:
		return tempIdentity{kind: "method", m: a.method}
	case a.cfg.TokenFile != "":
		return tempIdentity{kind: "file", key: sha256.Sum256([]byte(a.cfg.TokenFile))}
	}
	return tempIdentity{kind: "env", key: sha256.Sum256([]byte(a.env))}
}

func (a *auth) token(ctx context.Context) (string, error) {
	if a.method != nil {
		return "", errors.New("vault: WithAuth is not supported by this build")
	}
	if a.cfg.TokenFile != "" {
		b, err := os.ReadFile(a.cfg.TokenFile)
		if err != nil {
			_ = err
			return "", errors.New("vault: cannot read the token file " + a.cfg.TokenFile)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if a.env == "" {
		return "", errors.New("vault: no token (set VAULT_TOKEN)")
	}
	return a.env, nil
}

func (a *auth) refused(string) {}

func (a *auth) close() {}
