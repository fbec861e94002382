package oracle

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	go_ora "github.com/sijms/go-ora/v2"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/drivertest"
)

// The service name (the secret's dbname) goes into go-ora's connect
// descriptor, (DESCRIPTION=(ADDRESS=…)(CONNECT_DATA=(SERVICE_NAME=…)…)),
// as it is: go-ora v2.9.0 neither quotes nor escapes it. These tests check
// that it cannot add descriptor elements.

// injection is a service name that closes SERVICE_NAME and opens an element
// of its own.
const injection = "svc)(INSTANCE_NAME=x"

// TestServiceNameInjection: go-ora puts the service name of its URL into the
// descriptor as it is, so a service name holding descriptor syntax adds an
// element; the engine refuses such a service name as the secret's error.
func TestServiceNameInjection(t *testing.T) {
	u := url.URL{Scheme: "oracle", User: url.UserPassword("u", "p"), Host: "db:1521", Path: "/" + injection}
	raw, err := go_ora.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	// The premise: go-ora's own descriptor gains the element.
	desc := raw.ConnectionData()
	d, err := parseDescriptor(desc)
	if err != nil {
		t.Fatalf("descriptor %s: %v", desc, err)
	}
	if got := d.flatten(); !slices.Contains(got, "SERVICE_NAME=svc") || !slices.Contains(got, "INSTANCE_NAME=x") {
		t.Fatalf("go-ora's descriptor for service %q is %s (elements %q): want SERVICE_NAME=svc and an INSTANCE_NAME=x of its own", injection, desc, got)
	}

	c := secretsql.Credentials{Host: "db", Port: 1521, Username: "u", Database: injection}.WithPassword("hunter2-secret")
	_, cfg, err := buildURL(c, nil)
	if err == nil {
		t.Fatalf("service name %q accepted; connect descriptor: %s", injection, cfg.ConnectionData())
	}
	drivertest.CheckSecretError(t, err, "dbname", c.Password())
}

// hostileServices are service names that hold descriptor syntax, or
// characters no Oracle service name holds.
var hostileServices = []string{
	injection,
	"svc)(SERVER=DEDICATED",
	"svc))(ADDRESS=(PROTOCOL=tcp)(HOST=evil)(PORT=1)",
	"svc)(CID=(PROGRAM=x)",
	"svc(", "svc)", "a=b", `svc\)`, `"svc"`, "'svc'", "svc x", " svc", "svc\t", "svc\n(SID=x)",
	"a/b", "/svc/", "x;y=z&w", "%41+b", "{db}", "données", "svc\x00", "svc,other", "svc@h", "svc:1",
}

// TestServiceNames: service names of letters, digits and . _ - $ # are
// built into a descriptor with exactly one SERVICE_NAME, others are refused
// for dbname, with or without a SID.
func TestServiceNames(t *testing.T) {
	for _, params := range []url.Values{nil, {"SID": {"ORCL"}}, {"SSL": {"true"}, "INSTANCE NAME": {"inst1"}}} {
		for _, s := range serviceNames {
			checkDescriptor(t, "db.example.com", 1521, s, "hunter2-secret", params)
		}
		for _, s := range hostileServices {
			c := secretsql.Credentials{Host: "db", Port: 1521, Username: "u", Database: s}.WithPassword("hunter2-secret")
			_, cfg, err := buildURL(c, params)
			if err == nil {
				t.Fatalf("service name %q accepted with %v; connect descriptor: %s", s, params, cfg.ConnectionData())
			}
			drivertest.CheckSecretError(t, err, "dbname", c.Password())
		}
	}
}

// FuzzServiceNameDescriptor builds the URL for hostile service names, hosts
// secretsql's root lets through, any port and password, and a choice of
// options (bit 0 SSL, bit 1 SSL VERIFY=false, bit 2 INSTANCE NAME, bit 3
// SID). Either the build is refused with a *secretsql.SecretError that does
// not depend on the password, or the parsed configuration and its connect
// descriptor hold exactly the DSN's and the secret's host, port, SSL
// settings and service name, and no element the DSN did not ask for.
func FuzzServiceNameDescriptor(f *testing.F) {
	for i, s := range append(append([]string{}, serviceNames...), hostileServices...) {
		f.Add(s, "db.example.com", uint16(1521), "hunter2-secret", uint8(i%16))
	}
	f.Add("", "::1", uint16(1), "p", uint8(0))
	f.Add("svc", "fe80::1%eth0", uint16(65535), "p)(x=", uint8(15))
	f.Fuzz(func(t *testing.T, service, host string, port uint16, password string, opts uint8) {
		if !drivertest.RootAcceptsHost(host) || port == 0 || password == "" {
			return // secretsql's root never builds these
		}
		var params url.Values
		if opts&15 != 0 {
			params = url.Values{}
		}
		if opts&1 != 0 {
			params.Set("SSL", "true")
		}
		if opts&2 != 0 {
			params.Set("SSL VERIFY", "false")
		}
		if opts&4 != 0 {
			params.Set("INSTANCE NAME", "inst1")
		}
		if opts&8 != 0 {
			params.Set("SID", "ORCL")
		}
		checkDescriptor(t, host, int(port), service, password, params)
	})
}

// allowedService is the rule service names are held to: letters, digits
// and . _ - $ #.
var allowedService = regexp.MustCompile(`^[A-Za-z0-9._$#-]+$`)

// checkDescriptor builds the URL for a service name and checks what go-ora
// makes of it (see FuzzServiceNameDescriptor).
func checkDescriptor(t *testing.T, host string, port int, service, password string, params url.Values) {
	t.Helper()
	c := secretsql.Credentials{Host: host, Port: port, Username: "u", Database: service}.WithPassword(password)
	sid := params.Get("SID")
	dsn, _, err := buildURL(c, params)
	if err != nil {
		var se *secretsql.SecretError
		if !errors.As(err, &se) || se.Key != "dbname" {
			t.Fatalf("service %q, %v: %v is not a SecretError for dbname", service, params, err)
		}
		if allowedService.MatchString(service) || service == "" && sid != "" {
			t.Fatalf("service %q, %v refused: %v", service, params, err)
		}
		if service == "" && !errors.Is(err, secretsql.ErrMissingKey) {
			t.Fatalf("no service, %v: %v does not match ErrMissingKey", params, err)
		}
		drivertest.CheckPasswordFree(t, err, c, func(c secretsql.Credentials) error {
			_, _, err := buildURL(c, params)
			return err
		})
		return
	}
	// What the connector parses again at each connect.
	cfg, err := go_ora.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("service %q, %v: go_ora.ParseConfig: %v", service, params, err)
	}
	ssl, verify := params.Get("SSL") == "true", params.Get("SSL VERIFY") != "false"
	if len(cfg.Servers) != 1 || cfg.Servers[0].Addr != host || cfg.Servers[0].Port != port ||
		cfg.SSL != ssl || cfg.SSLVerify != verify || cfg.ServiceName != service ||
		cfg.SID != sid || cfg.InstanceName != params.Get("INSTANCE NAME") {
		t.Fatalf("service %q, %v: servers %v, SSL %v, verify %v, service %q, SID %q, instance %q",
			service, params, cfg.Servers, cfg.SSL, cfg.SSLVerify, cfg.ServiceName, cfg.SID, cfg.InstanceName)
	}
	desc := cfg.ConnectionData()
	d, err := parseDescriptor(desc)
	if err != nil {
		t.Fatalf("service %q, %v: descriptor %s: %v", service, params, desc, err)
	}
	protocol := "tcp"
	if ssl {
		protocol = "tcps"
	}
	want := []string{"DESCRIPTION", "ADDRESS", "PROTOCOL=" + protocol, "HOST=" + host, "PORT=" + strconv.Itoa(port), "CONNECT_DATA"}
	if sid != "" {
		want = append(want, "SID="+sid)
	} else {
		want = append(want, "SERVICE_NAME="+service)
	}
	if inst := params.Get("INSTANCE NAME"); inst != "" {
		want = append(want, "INSTANCE_NAME="+inst)
	}
	want = append(want, "CID", "PROGRAM=*", "HOST=*", "USER=*") // the client's own
	if got := d.flatten(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("service %q, %v: descriptor %s\nelements %q\nwant     %q", service, params, desc, got, want)
	}
}

// nvNode is an element of a connect descriptor: (KEY=value) or
// (KEY=(…)(…)).
type nvNode struct {
	key, value string
	children   []*nvNode
}

// parseDescriptor parses a connect descriptor with Oracle Net's grammar:
// '(', '=' and ')' are syntax; a value is the text up to the ')' that
// closes its element and may hold none of them.
func parseDescriptor(s string) (*nvNode, error) {
	n, rest, err := parseNV(s)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("text after the descriptor: %q", rest)
	}
	return n, nil
}

func parseNV(s string) (*nvNode, string, error) {
	if !strings.HasPrefix(s, "(") {
		return nil, "", fmt.Errorf("element expected at %q", s)
	}
	key, rest, ok := strings.Cut(s[1:], "=")
	if !ok || key == "" || strings.ContainsAny(key, "()") {
		return nil, "", fmt.Errorf("keyword expected at %q", s)
	}
	n := &nvNode{key: key}
	if !strings.HasPrefix(rest, "(") {
		i := strings.IndexByte(rest, ')')
		if i < 0 {
			return nil, "", fmt.Errorf("unterminated value at %q", rest)
		}
		if n.value = rest[:i]; strings.ContainsAny(n.value, "(=") {
			return nil, "", fmt.Errorf("syntax in the value %q", n.value)
		}
		return n, rest[i+1:], nil
	}
	for strings.HasPrefix(rest, "(") {
		var child *nvNode
		var err error
		if child, rest, err = parseNV(rest); err != nil {
			return nil, "", err
		}
		n.children = append(n.children, child)
	}
	if !strings.HasPrefix(rest, ")") {
		return nil, "", fmt.Errorf("')' expected at %q", rest)
	}
	return n, rest[1:], nil
}

// flatten lists the elements depth first: KEY for a list, KEY=value for a
// value, KEY=* for the values under CID (the client's program, host and
// user, which the test does not control).
func (n *nvNode) flatten() []string {
	var out []string
	var walk func(n *nvNode, inCID bool)
	walk = func(n *nvNode, inCID bool) {
		switch {
		case n.children != nil:
			out = append(out, n.key)
		case inCID:
			out = append(out, n.key+"=*")
		default:
			out = append(out, n.key+"="+n.value)
		}
		for _, c := range n.children {
			walk(c, inCID || n.key == "CID")
		}
	}
	walk(n, false)
	return out
}
