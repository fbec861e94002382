package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"

	"github.com/secretsql/secretsql/iamtest"
)

// TestMain runs the program itself when the test binary is started with
// IAMVERIFY_MAIN=1, so that the tests run it as pam_exec does: a process
// with PAM_USER and PAM_TYPE in its environment and the token on stdin.
func TestMain(m *testing.M) {
	if os.Getenv("IAMVERIFY_MAIN") == "1" {
		time.AfterFunc(totalTimeout, func() { os.Exit(2) })
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

type result struct {
	code    int
	output  string // stdout and stderr
	elapsed time.Duration
}

// program runs the program with args, PAM_USER=user and stdin.
func program(t *testing.T, user string, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "IAMVERIFY_MAIN=1", "PAM_USER="+user, "PAM_TYPE=auth", "PAM_SERVICE=test")
	cmd.Stdin = stdin
	cmd.WaitDelay = 5 * time.Second // a stdin copier blocked on its reader ends too
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	r := result{output: out.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

func setup(t *testing.T) (*iamtest.Registry, iamtest.AccessKey, string) {
	t.Helper()
	reg := &iamtest.Registry{Dir: t.TempDir()}
	k, err := reg.Add(iamtest.AccessKey{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.BuildAuthToken(context.Background(), "127.0.0.1:5432", "us-east-1", "app",
		credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, ""))
	if err != nil {
		t.Fatal(err)
	}
	return reg, k, tok
}

// TestProgram: a token written as pam_exec writes it (followed by a NUL) is
// accepted for its user and port and refused otherwise; each decision is
// in the key's log; the program prints nothing, least of all the token.
func TestProgram(t *testing.T) {
	reg, k, tok := setup(t)
	forged := tok[:len(tok)-1] + map[bool]string{true: "0", false: "1"}[tok[len(tok)-1] != '0']
	for _, c := range []struct {
		name, user, token string
		port              string
		code              int
	}{
		{"valid", "app", tok + "\x00", "5432", 0},
		{"valid, no NUL", "app", tok, "5432", 0},
		{"one byte changed", "app", forged + "\x00", "5432", 1},
		{"another user", "admin", tok + "\x00", "5432", 1},
		{"another port", "app", tok + "\x00", "3306", 1},
		{"empty", "app", "", "5432", 1},
	} {
		r := program(t, c.user, strings.NewReader(c.token), "-keys", reg.Dir, "-port", c.port)
		if r.code != c.code {
			t.Errorf("%s: exit code %d, want %d (output %q)", c.name, r.code, c.code, r.output)
		}
		if sig := tok[len(tok)-64:]; strings.Contains(r.output, sig) || strings.Contains(r.output, sig[:16]) {
			t.Errorf("%s: the output shows the token", c.name)
		}
		if r.output != "" && c.name != "empty" {
			t.Errorf("%s: output %q, want none", c.name, r.output)
		}
	}
	ds, err := reg.Decisions(k.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, map[bool]string{true: "accepted", false: d.Reason}[d.Accepted])
		if strings.Contains(d.Reason, tok[len(tok)-64:][:16]) {
			t.Errorf("the log shows the token: %q", d.Reason)
		}
	}
	want := []string{"accepted", "accepted", "signature mismatch", "token for another user", "token for another endpoint"}
	if len(got) != len(want) {
		t.Fatalf("log %q, want %d decisions like %q", got, len(want), want)
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("decision %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// TestProgramStdinDeadline: a writer that never closes stdin does not keep
// the program (and the database server's login) waiting past the deadline.
func TestProgramStdinDeadline(t *testing.T) {
	reg, _, tok := setup(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if _, err := pw.WriteString(tok); err != nil { // no NUL, no EOF: the token may go on
		t.Fatal(err)
	}
	r := program(t, "app", pr, "-keys", reg.Dir, "-port", "5432", "-read-timeout", "300ms")
	if r.code != 1 || !strings.Contains(r.output, "deadline") {
		t.Errorf("exit code %d, output %q; want 1 and a deadline", r.code, r.output)
	}
	if r.elapsed > 5*time.Second {
		t.Errorf("took %v with a 300 ms deadline", r.elapsed)
	}
	if strings.Contains(r.output, tok[len(tok)-64:][:16]) {
		t.Errorf("the output shows the token")
	}
}

// TestProgramStdinLimit: an endless stdin is read up to the limit only.
func TestProgramStdinLimit(t *testing.T) {
	reg, _, tok := setup(t)
	endless := io.MultiReader(strings.NewReader(tok), zeros{})
	r := program(t, "app", endless, "-keys", reg.Dir, "-port", "5432")
	if r.code != 1 || !strings.Contains(r.output, "longer than") {
		t.Errorf("exit code %d, output %q; want 1 and a size limit", r.code, r.output)
	}
}

// zeros is an endless reader of 'a's.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// TestProgramUsage: without PAM_TYPE=auth or a port it refuses (exit 2).
func TestProgramUsage(t *testing.T) {
	reg, _, tok := setup(t)
	if r := program(t, "app", strings.NewReader(tok), "-keys", reg.Dir); r.code != 2 {
		t.Errorf("no port: exit code %d, want 2", r.code)
	}
	if r := program(t, "", strings.NewReader(tok), "-keys", reg.Dir, "-port", "5432"); r.code != 2 {
		t.Errorf("no PAM_USER: exit code %d, want 2", r.code)
	}
}
