package vaulttest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type recordingT struct {
	testing.TB
	fatal, skipped bool
	msg            string
}

func (r *recordingT) Helper()           {}
func (r *recordingT) Fatal(args ...any) { r.fatal = true; r.msg = fmt.Sprint(args...) }
func (r *recordingT) Skip(args ...any)  { r.skipped = true; r.msg = fmt.Sprint(args...) }

// TestUnavailable: without a binary the harness skips, except under CI=true,
// where it fails; the message says how to build one.
func TestUnavailable(t *testing.T) {
	for _, ci := range []string{"true", "", "false"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recordingT{TB: t}
			unavailable(r, os.ErrNotExist)
			if ci == "true" && (!r.fatal || r.skipped) {
				t.Errorf("CI=true: fatal=%v skipped=%v, want a failure", r.fatal, r.skipped)
			}
			if ci != "true" && (r.fatal || !r.skipped) {
				t.Errorf("CI=%q: fatal=%v skipped=%v, want a skip", ci, r.fatal, r.skipped)
			}
			for _, want := range []string{"scripts/vaultserver.sh", "VAULT_BIN", os.ErrNotExist.Error()} {
				if !strings.Contains(r.msg, want) {
					t.Errorf("message %q lacks %q", r.msg, want)
				}
			}
		})
	}
}

// TestFindBinary: VAULT_BIN must name a program that says it is Vault.
func TestFindBinary(t *testing.T) {
	dir := t.TempDir()
	notVault := filepath.Join(dir, "notvault")
	if err := os.WriteFile(notVault, []byte("#!/bin/sh\necho 'Terraform v1.5.0'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fakeVault := filepath.Join(dir, "vault")
	if err := os.WriteFile(fakeVault, []byte("#!/bin/sh\necho \"Vault v1.14.1 ($1)\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	failing := filepath.Join(dir, "failing")
	if err := os.WriteFile(failing, []byte("#!/bin/sh\necho 'Vault v1.14.1'\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		bin string
		ok  bool
	}{
		{filepath.Join(dir, "missing"), false},
		{notVault, false},
		{failing, false},
		{fakeVault, true},
	} {
		t.Setenv("VAULT_BIN", c.bin)
		got, err := findBinary()
		if c.ok && (err != nil || got != c.bin) {
			t.Errorf("VAULT_BIN=%s: %q, %v; want the path", filepath.Base(c.bin), got, err)
		}
		if !c.ok && err == nil {
			t.Errorf("VAULT_BIN=%s: accepted (%q), want an error", filepath.Base(c.bin), got)
		}
	}
	// Without VAULT_BIN: the script's cache directory.
	t.Setenv("VAULT_BIN", "")
	t.Setenv("VAULT_CACHE_DIR", dir)
	if got, err := findBinary(); err != nil || got != fakeVault {
		t.Errorf("VAULT_CACHE_DIR: %q, %v; want %s", got, err, fakeVault)
	}
	t.Setenv("VAULT_CACHE_DIR", "")
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	want := filepath.Join(dir, "xdg", "secretsql", "vault-"+Version, "vault")
	if _, err := findBinary(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("XDG_CACHE_HOME: error %v, want one naming %s", err, want)
	}
}

// TestTailBuffer: the kept output is bounded and shows neither the token
// nor the unseal key.
func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{limit: 100, redact: []string{"sqt.secret"}}
	fmt.Fprintf(b, "Unseal Key: c2VjcmV0LXVuc2VhbC1rZXk=\nRoot Token: sqt.secret\n")
	fmt.Fprintf(b, "token sqt.secret used\n")
	s := b.String()
	for _, bad := range []string{"sqt.secret", "c2VjcmV0LXVuc2VhbC1rZXk="} {
		if strings.Contains(s, bad) {
			t.Errorf("output %q shows %q", s, bad)
		}
	}
	for _, want := range []string{"Unseal Key: [redacted]", "Root Token: [redacted]", "token [redacted] used"} {
		if !strings.Contains(s, want) {
			t.Errorf("output %q lacks %q", s, want)
		}
	}
	for i := range 1000 {
		fmt.Fprintf(b, "line %d\n", i)
	}
	b.Write([]byte(strings.Repeat("x", 500)))
	if len(b.buf) > 100 {
		t.Errorf("kept %d bytes, limit 100", len(b.buf))
	}
	if got := b.String(); got != strings.Repeat("x", 100) {
		t.Errorf("kept %d bytes ending in %q, want the last 100 bytes written", len(got), got[max(0, len(got)-20):])
	}
}

// TestFormatRedacts: no fmt verb shows a password or the root token.
func TestFormatRedacts(t *testing.T) {
	const secret = "S3cr3t-p4ss"
	values := []any{
		Creds{Username: "u", Password: secret, LeaseID: "db/creds/r/1"},
		&Creds{Username: "u", Password: secret},
		StaticCreds{Username: "u", Password: secret},
		&StaticCreds{Username: "u", Password: secret},
		&Server{Addr: "http://127.0.0.1:1", Token: secret},
		struct{ C Creds }{Creds{Password: secret}},
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			if s := fmt.Sprintf(verb, v); strings.Contains(s, secret) {
				t.Errorf("%s of %T shows the secret: %s", verb, v, s)
			}
		}
	}
}

// TestStartStop: a server answers with its root token, shows the token
// nowhere, and once its test has ended no process of it is left and its
// port is closed.
func TestStartStop(t *testing.T) {
	var pid int
	var addr, token string
	t.Run("server", func(t *testing.T) {
		start := time.Now()
		s := Start(t)
		t.Logf("started %v in %v", s, time.Since(start).Round(time.Millisecond))
		pid, addr, token = s.cmd.Process.Pid, s.Addr, s.Token
		if !strings.HasPrefix(s.Addr, "http://127.0.0.1:") {
			t.Errorf("Addr = %s, want http://127.0.0.1:PORT", s.Addr)
		}
		self, err := s.Client.Auth().Token().LookupSelfWithContext(t.Context())
		if err != nil {
			t.Fatalf("token lookup-self: %v", err)
		}
		if pol, _ := self.TokenPolicies(); len(pol) != 1 || pol[0] != "root" {
			t.Errorf("token policies %v, want [root]", pol)
		}
		// A wrong token is refused (403).
		other, err := newClient(s.Addr, "sqt-wrong")
		if err != nil {
			t.Fatal(err)
		}
		_, err = other.Auth().Token().LookupSelfWithContext(t.Context())
		if status(err) != http.StatusForbidden {
			t.Errorf("lookup-self with a wrong token: %v, want 403", err)
		}
		// The dev banner, with the root token, comes once the server is ready.
		out := s.Output()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out, "Root Token:") && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			out = s.Output()
		}
		for _, want := range []string{"Root Token: [redacted]", "Unseal Key: [redacted]"} {
			if !strings.Contains(out, want) {
				t.Errorf("server output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, s.Token) {
			t.Errorf("server output shows the root token")
		}
		if cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && strings.Contains(string(cmdline), s.Token) {
			t.Errorf("the server's command line shows the root token")
		}
		if s2 := Start(t); s2.Token == s.Token || s2.Addr == s.Addr {
			t.Errorf("two servers share a token or an address (%s, %s)", s.Addr, s2.Addr)
		}
	})
	if pid == 0 {
		t.Fatal("no server started")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("server pid %d: kill 0 = %v after the test, want ESRCH", pid, err)
	}
	if left := groupMembers(t, pid); len(left) > 0 {
		t.Errorf("processes %v of the server's group are left", left)
	}
	c, err := newClient(addr, token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sys().HealthWithContext(t.Context()); err == nil {
		t.Errorf("%s still answers after the test", addr)
	}
}

// groupMembers lists the processes of process group pgid (Linux /proc).
func groupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(dirs) == 0 {
		t.Logf("cannot list processes (%v): group not checked", err)
		return nil
	}
	var pids []int
	for _, stat := range dirs {
		b, err := os.ReadFile(stat)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) {
			pid, _ := strconv.Atoi(strings.Fields(s)[0])
			pids = append(pids, pid)
		}
	}
	return pids
}
