package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql/smtest"
)

// emulatorFlags are the flags of secretsql emulator.
type emulatorFlags struct {
	addr, region, seed       string
	agent, regions           string
	accessKey, secretKey     string
	allowRemote, verbose     bool
	allowHosts               stringList
	rotationNets             networkList
	rotationWindow, rotEvery time.Duration
}

// stringList is a repeatable string flag.
type stringList []string

// String joins the values with commas (flag.Value).
func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set adds a value (flag.Value).
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// networkList is the repeatable --rotation-network flag: networks in CIDR
// notation, or single addresses.
type networkList []netip.Prefix

// String joins the networks with commas (flag.Value).
func (l *networkList) String() string {
	s := make([]string, len(*l))
	for i, p := range *l {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// Set adds a network, or an address as a network of one (flag.Value).
func (l *networkList) Set(v string) error {
	p, err := netip.ParsePrefix(v)
	if err != nil {
		a, aerr := netip.ParseAddr(v)
		if aerr != nil {
			return fmt.Errorf("--rotation-network wants a network such as 10.0.0.0/8 or an address such as 10.1.2.3, not %q", v)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	*l = append(*l, p)
	return nil
}

func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f emulatorFlags
	fs := flag.NewFlagSet("secretsql emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:4566", "address to listen on (port 0: a free port); a non-loopback address needs --allow-remote")
	fs.StringVar(&f.region, "region", smtest.DefaultRegion, "region the emulator claims (requests must be signed for it)")
	fs.StringVar(&f.regions, "regions", "", "comma-separated `list` of more regions to serve on the same address (a request is answered by the region it is signed for; secrets replicate to them with ReplicateSecretToRegions)")
	fs.StringVar(&f.agent, "agent", "", "also serve a Secrets Manager Agent (its HTTP API, as on localhost:2773) on this `address`, reading the emulator; prints its token")
	fs.StringVar(&f.seed, "seed", "", "JSON `file` mapping secret names to values (an object is stored as JSON, a string as is)")
	fs.StringVar(&f.accessKey, "access-key", "", "the only access key ID accepted (default: a random one per start)")
	fs.StringVar(&f.secretKey, "secret-key", "", "its secret access key (default: a random one per start)")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow an --addr that other machines can reach (plain HTTP: anyone with the keys can read secrets and rotate database passwords)")
	fs.Var(&f.allowHosts, "allow-host", "also answer requests whose Host header is this `name` (repeatable); by default only the listen address and loopback names are answered")
	fs.Var(&f.rotationNets, "rotation-network", "let rotations connect to databases in this `network` (CIDR, or an address; repeatable); by default they connect only to loopback addresses, whatever host a secret names (0.0.0.0/0 and ::/0: anywhere)")
	fs.DurationVar(&f.rotationWindow, "rotation-window", 0, "hold each rotation this long between setSecret and finishSecret (the database has the new password, AWSCURRENT the old one)")
	fs.DurationVar(&f.rotEvery, "rotate-every", 0, "rotate every secret whose rotation is enabled this often (seeded database secrets get rotation enabled), for soak runs")
	fs.BoolVar(&f.verbose, "verbose", false, "log every request, not only rotations and failures")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: secretsql emulator [flags]\n\nServes an in-memory Secrets Manager emulator until SIGINT or SIGTERM. Flags:")
		fs.PrintDefaults()
	}
	if _, code, ok := parseArgs(fs, args, 0, "takes no arguments", stderr); !ok {
		return code
	}
	if err := f.check(); err != nil {
		fmt.Fprintln(stderr, "secretsql emulator:", err)
		return exitUsage
	}
	var secrets map[string]string
	if f.seed != "" {
		var err error
		if secrets, err = readSeed(f.seed); err != nil {
			fmt.Fprintln(stderr, "secretsql emulator:", err)
			return exitUsage
		}
	}
	logger := slog.New(requestFilter{slog.NewTextHandler(stderr, nil), f.verbose})
	srv, err := smtest.Start(smtest.WithAddr(f.addr), smtest.WithRegion(f.region), smtest.WithRegions(f.extraRegions()...),
		smtest.WithCredentials(f.accessKey, f.secretKey), smtest.WithHostCheck(f.allowHosts...),
		smtest.WithLogger(logger), smtest.WithRotationWindow(f.rotationWindow), smtest.WithRotateEvery(f.rotEvery),
		smtest.WithRotationNetworks(f.rotationNets...))
	if err != nil {
		fmt.Fprintln(stderr, "secretsql emulator:", err)
		if errors.Is(err, smtest.ErrInvalidRegion) {
			return exitUsage // --region or --regions; a region code looks like eu-west-1
		}
		return exitUnreachable
	}
	defer srv.Close()
	var agent *smtest.Agent
	if f.agent != "" {
		if agent, err = smtest.StartAgent(srv, smtest.WithAgentAddr(f.agent)); err != nil {
			fmt.Fprintln(stderr, "secretsql emulator:", err)
			return exitUnreachable
		}
		defer agent.Close()
	}
	if f.allowRemote {
		host, _, _ := net.SplitHostPort(f.addr)
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
		fmt.Fprintf(stderr, "secretsql emulator: WARNING: listening on %s, which other machines may reach: requests are plain HTTP, and anyone with the keys below can read and change the secrets and rotate database passwords\n", net.JoinHostPort(host, port))
	}
	if code := seed(ctx, srv, secrets, f.rotEvery > 0, stdout, stderr); code != exitOK {
		return code
	}
	fmt.Fprintf(stdout, "# Secrets Manager emulator on %s (region %s); export these, then run your application:\n", srv.URL, srv.Region)
	for _, kv := range emulatorEnv(srv) {
		fmt.Fprintf(stdout, "export %s=%s\n", kv[0], kv[1])
	}
	if regions := srv.Regions(); len(regions) > 1 {
		fmt.Fprintf(stdout, "# also serving regions %s on the same endpoint: a client configured for one of them reads its secrets and replicas\n", strings.Join(regions[1:], ", "))
	}
	if agent != nil {
		fmt.Fprintf(stdout, "# Secrets Manager Agent on %s (region %s): GET /secretsmanager/get?secretId=NAME with header %s: $AWS_TOKEN\n",
			agent.URL, agent.Region, smtest.AgentTokenHeader)
		for _, kv := range agentEnv(agent) {
			fmt.Fprintf(stdout, "export %s=%s\n", kv[0], kv[1])
		}
	}
	fmt.Fprintln(stdout, `# rotate a database secret: aws --endpoint-url "$AWS_ENDPOINT_URL_SECRETS_MANAGER" secretsmanager rotate-secret --secret-id NAME (or: secretsql rotate NAME)`)
	fmt.Fprintln(stdout, "# Ctrl-C to stop (secrets live in memory only)")
	<-ctx.Done()
	fmt.Fprintln(stdout, "# stopped")
	return exitOK
}

// check validates the flags: keys (random unless given, never the
// published defaults) and the listen addresses. smtest.Start checks the
// regions.
func (f *emulatorFlags) check() error {
	switch {
	case (f.accessKey == "") != (f.secretKey == ""):
		return errors.New("--access-key and --secret-key go together")
	case f.accessKey == smtest.DefaultAccessKeyID || f.secretKey == smtest.DefaultSecretAccessKey:
		return errors.New("the published test keys of package smtest are refused: choose other keys, or leave --access-key and --secret-key out for random ones")
	case f.accessKey == "":
		f.accessKey, f.secretKey = randomKeys()
	}
	for _, a := range []struct{ flag, addr string }{{"--addr", f.addr}, {"--agent", f.agent}} {
		if a.flag == "--agent" && a.addr == "" {
			continue // no agent
		}
		host, _, err := net.SplitHostPort(a.addr)
		if err != nil {
			return fmt.Errorf("%s %q: %w", a.flag, a.addr, err)
		}
		if !isLoopback(host) && !f.allowRemote {
			return fmt.Errorf("%s %s can be reached from other machines; add --allow-remote if that is what you want, or listen on 127.0.0.1", a.flag, a.addr)
		}
	}
	return nil
}

// extraRegions is the list of --regions.
func (f *emulatorFlags) extraRegions() []string {
	var out []string
	for r := range strings.SplitSeq(f.regions, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// isLoopback reports whether a listen host is a loopback one (not "",
// which means every interface).
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// randomKeys returns a fresh access key ID and secret access key, in the
// shape of AWS's (20 and 40 characters).
func randomKeys() (accessKeyID, secretAccessKey string) {
	id := make([]byte, 10)
	secret := make([]byte, 30)
	_, _ = rand.Read(id) // never fails (crypto/rand panics instead)
	_, _ = rand.Read(secret)
	return "AKSM" + base32.StdEncoding.EncodeToString(id)[:16], base64.RawURLEncoding.EncodeToString(secret)
}

// seed creates the seeded secrets and, for soak runs (rotate), turns
// rotation on for those the emulator can rotate, but for admin secrets: a
// secret that another one names as its masterarn is never rotated on
// schedule (that would change the admin's password).
func seed(ctx context.Context, srv *smtest.Server, secrets map[string]string, rotate bool, stdout, stderr io.Writer) int {
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	arns := map[string]string{}
	masters := map[string]bool{}
	for _, n := range names {
		arn, err := createSecret(srv, n, secrets[n])
		if err != nil {
			fmt.Fprintf(stderr, "secretsql emulator: seed secret %q: %v\n", n, err)
			return exitUsage
		}
		arns[n] = arn
		var s struct{ Masterarn string }
		if json.Unmarshal([]byte(secrets[n]), &s) == nil && s.Masterarn != "" {
			masters[s.Masterarn] = true
		}
		fmt.Fprintf(stdout, "# created secret %s: %s\n", n, arn)
	}
	if !rotate {
		return exitOK
	}
	client := srv.Client()
	for _, n := range names {
		// A masterarn may be the admin secret's name, ARN or partial ARN.
		if masters[n] || masters[arns[n]] || masters[arns[n][:len(arns[n])-7]] {
			fmt.Fprintf(stdout, "# not rotated on schedule: %s: it is an admin secret (masterarn)\n", n)
			continue
		}
		_, err := client.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(n), RotateImmediately: aws.Bool(false)})
		if err != nil {
			fmt.Fprintf(stdout, "# not rotated on schedule: %s: %v\n", n, err)
		} else {
			fmt.Fprintf(stdout, "# rotation of %s enabled\n", n)
		}
	}
	return exitOK
}

// requestFilter drops smtest's per-request log records unless verbose:
// rotations, outages and failures remain.
type requestFilter struct {
	slog.Handler
	verbose bool
}

// Handle passes r on, unless it is a request record and h is not verbose.
func (h requestFilter) Handle(ctx context.Context, r slog.Record) error {
	if !h.verbose && r.Message == "smtest: request" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the filter on the derived handler.
func (h requestFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestFilter{h.Handler.WithAttrs(attrs), h.verbose}
}

// WithGroup keeps the filter on the derived handler.
func (h requestFilter) WithGroup(name string) slog.Handler {
	return requestFilter{h.Handler.WithGroup(name), h.verbose}
}

// emulatorEnv is what the AWS SDK needs to use srv.
func emulatorEnv(srv *smtest.Server) [][2]string {
	creds, err := srv.Config().Credentials.Retrieve(context.Background())
	if err != nil {
		panic(err) // static credentials cannot fail
	}
	return [][2]string{
		{"AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL},
		{"AWS_REGION", srv.Region},
		{"AWS_DEFAULT_REGION", srv.Region},
		{"AWS_ACCESS_KEY_ID", creds.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey},
	}
}

// agentEnv is what a client of the agent reads: the token (AWS_TOKEN comes
// first of the variables the agent and its clients read it from) and the
// port, under the Lambda extension's name for it.
func agentEnv(a *smtest.Agent) [][2]string {
	_, port, _ := net.SplitHostPort(a.Addr)
	return [][2]string{
		{"AWS_TOKEN", a.Token},
		{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port},
	}
}

// readSeed reads a JSON object mapping names to secret values.
func readSeed(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("seed file %s: want a JSON object of name → secret: %w", path, err)
	}
	out := make(map[string]string, len(m))
	for name, v := range m {
		v = bytes.TrimSpace(v)
		switch {
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("seed file %s: secret %q: %w", path, name, err)
			}
			out[name] = s
		case len(v) > 0 && v[0] == '{':
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil {
				return nil, fmt.Errorf("seed file %s: secret %q: %w", path, name, err)
			}
			out[name] = c.String()
		default:
			return nil, fmt.Errorf("seed file %s: secret %q must be a JSON object or string", path, name)
		}
	}
	return out, nil
}

// createSecret seeds a secret, turning smtest's panics on bad names into
// errors.
func createSecret(srv *smtest.Server, name, value string) (arn string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return srv.CreateSecret(name, value), nil
}
