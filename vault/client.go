package vault

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/hashicorp/vault/api"
)

// maxBody bounds every answer's body.
const maxBody = 1 << 20

var (
	errTooLarge = errors.New("the answer is larger than 1 MiB")
	errRedirect = errors.New("refusing a redirect to another host")
)

// newClient returns the API client a Source uses, with the caller's or
// the environment's token (auth decides which token a request carries): a clone of base when given,
// else one configured from the environment as the official client is
// (VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE, …). The client's transport
// bounds every body and refuses requests to any host but the server's
// (the client follows a redirect itself). own reports whether the
// transport is the Source's own, to close its idle connections.
func newClient(base *api.Client, namespace string) (c *api.Client, g *guard, own bool, err error) {
	var cfg *api.Config
	if base != nil {
		cfg = base.CloneConfig() // a copy of the caller's http.Client: changing it leaves theirs alone
	} else {
		cfg = api.DefaultConfig()
		if cfg.Error != nil {
			return nil, nil, false, fmt.Errorf("vault: the client's configuration from the environment: %w", cfg.Error)
		}
		if os.Getenv(api.EnvVaultMaxRetries) == "" {
			cfg.MaxRetries = 0 // the connect's context and the cache's retries decide
		}
		own = true
	}
	cfg.CloneHeaders = true
	if cfg.HttpClient == nil || cfg.HttpClient.Transport == nil {
		return nil, nil, false, errors.New("vault: the client has no HTTP transport")
	}
	u, err := url.Parse(cfg.Address)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, nil, false, errors.New("vault: the server address " + fmt.Sprintf("%q", cfg.Address) + " is not an http(s) URL (set VAULT_ADDR)")
	}
	g = &guard{base: cfg.HttpClient.Transport, host: u.Host}
	cfg.HttpClient.Transport = g
	c, err = api.NewClient(cfg)
	if err != nil {
		return nil, nil, false, fmt.Errorf("vault: creating the client: %w", err)
	}
	if base != nil {
		c.SetHeaders(base.Headers()) // with the namespace
		c.SetToken(base.Token())
	}
	if namespace != "" {
		c.SetNamespace(namespace)
	}
	return c, g, own, nil
}

// guard is the transport of a Source's client: requests only to the
// server's host, every body at most maxBody.
type guard struct {
	base http.RoundTripper
	host string
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != g.host && !strings.EqualFold(req.URL.Host, g.host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errRedirect
	}
	resp, err := g.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp.ContentLength > maxBody {
		resp.Body.Close()
		return nil, errTooLarge
	}
	resp.Body = &boundedBody{rc: resp.Body, left: maxBody}
	return resp, nil
}

// closeIdle closes the transport's idle connections.
func (g *guard) closeIdle() {
	if c, ok := g.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// boundedBody fails a read past its limit.
type boundedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }
