package vault

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/secretsql/secretsql/credential"
)

func init() {
	credential.RegisterScheme("vault", openDSN, "auth", "token_file", "role", "secret_id_file", "jwt_file", "auth_mount", "namespace")
}

// maxPathLen bounds a Vault path.
const maxPathLen = 1024

// openDSN opens the source of a DSN `vault:<path>?…`: the path after /v1/, and
// the scheme's keys (auth, token_file, role, secret_id_file, jwt_file,
// auth_mount, namespace). It does no network I/O.
func openDSN(d credential.DSN) (credential.Source, error) {
	var opts []Option
	q := url.Values{}
	for k, v := range d.Query {
		if len(v) != 1 {
			return nil, errors.New("vault: the DSN key " + k + " is given more than once")
		}
		if k == "namespace" {
			ns := v[0]
			if ns == "" || strings.ContainsAny(ns, "?#%\\ ") || hasControlChar(ns) || len(ns) > 256 {
				return nil, errors.New("vault: namespace=" + strconv.Quote(boundedText(ns, 64)) + " is not a Vault namespace path")
			}
			opts = append(opts, WithNamespace(ns))
			continue
		}
		q[k] = v
	}
	cfg, err := parseAuth(q)
	if err != nil {
		return nil, err
	}
	opts = append(opts, withAuthConfig(cfg))
	s, err := New(d.Opaque, opts...)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// validatePath checks a Vault API path (after /v1/).
func validatePath(p string) error {
	bad := func(reason string) error {
		return errors.New("vault: the path " + strconv.Quote(boundedText(p, 128)) + " " + reason +
			" (a Vault API path after /v1/, such as database/creds/app)")
	}
	switch {
	case p == "":
		return errors.New("vault: no path: the DSN is vault:<path after /v1/>, such as vault:database/creds/app")
	case len(p) > maxPathLen:
		return bad("is longer than " + strconv.Itoa(maxPathLen) + " bytes")
	case strings.HasPrefix(p, "/"):
		return bad("starts with a slash")
	case strings.HasSuffix(p, "/"):
		return bad("ends with a slash")
	case strings.HasPrefix(p, "v1/"):
		return bad("starts with v1/: give what follows /v1/")
	case strings.HasPrefix(p, "sys/") || p == "sys" || strings.HasPrefix(p, "auth/") || p == "auth":
		return bad("is a system or login path, not credentials")
	case strings.Contains(p, ".."):
		return bad("holds \"..\"")
	case hasControlChar(p) || strings.ContainsAny(p, " \\#%?"):
		return bad("holds a space, control character, backslash, '#', '%' or '?'")
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return bad("has an empty segment")
		case ".":
			return bad("has a '.' segment") // ".." is refused above
		}
	}
	return nil
}

func hasControlChar(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}
