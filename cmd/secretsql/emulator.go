package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/secretsql/secretsql/smtest"
)

func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("secretsql emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4566", "address to listen on (port 0: a free port)")
	region := fs.String("region", smtest.DefaultRegion, "region the emulator claims (requests must be signed for it)")
	seed := fs.String("seed", "", "JSON `file` mapping secret names to values (an object is stored as JSON, a string as is)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: secretsql emulator [flags]\n\nServes an in-memory Secrets Manager emulator until SIGINT or SIGTERM. Flags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "secretsql emulator: unexpected argument", pos[0])
		return exitUsage
	}
	var secrets map[string]string
	if *seed != "" {
		if secrets, err = readSeed(*seed); err != nil {
			fmt.Fprintln(stderr, "secretsql emulator:", err)
			return exitUsage
		}
	}
	srv, err := smtest.Start(smtest.WithAddr(*addr), smtest.WithRegion(*region))
	if err != nil {
		fmt.Fprintln(stderr, "secretsql emulator:", err)
		return exitUnreachable
	}
	defer srv.Close()
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		arn, err := createSecret(srv, n, secrets[n])
		if err != nil {
			fmt.Fprintf(stderr, "secretsql emulator: seed secret %q: %v\n", n, err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "# created secret %s: %s\n", n, arn)
	}
	fmt.Fprintf(stdout, "# Secrets Manager emulator on %s (region %s); export these, then run your application:\n", srv.URL, srv.Region)
	for _, kv := range emulatorEnv(srv) {
		fmt.Fprintf(stdout, "export %s=%s\n", kv[0], kv[1])
	}
	fmt.Fprintln(stdout, "# Ctrl-C to stop (secrets live in memory only)")
	<-ctx.Done()
	fmt.Fprintln(stdout, "# stopped")
	return exitOK
}

// emulatorEnv is what the AWS SDK needs to use srv.
func emulatorEnv(srv *smtest.Server) [][2]string {
	return [][2]string{
		{"AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL},
		{"AWS_REGION", srv.Region},
		{"AWS_ACCESS_KEY_ID", smtest.DefaultAccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", smtest.DefaultSecretAccessKey},
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
