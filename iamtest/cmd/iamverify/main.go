// Command iamverify is the token verifier of the test bed's PAM services:
// pam_exec runs it (as the database server's user) for every login of a
// PostgreSQL role in rds_iam or a MariaDB user IDENTIFIED VIA pam, with the
// login user in PAM_USER and the password (the token) on standard input.
// It exits 0 if the token is valid for that user and the server's port
// according to the key registry of iamtest, 1 if it is not, and 2 on a
// usage or internal error. scripts/testbed.sh builds and installs it:
//
//	auth    required pam_exec.so expose_authtok quiet /usr/local/libexec/secretsql-iamverify -port 5432
//	account required pam_permit.so
//
// It reads at most iamtest.MaxTokenSize+2 bytes of standard input, for at most
// 5 seconds (-read-timeout), and ends itself after 10 seconds whatever
// happens. It prints
// nothing: each decision (never the token) goes to the log of the token's
// access key in the registry (see iamtest.Registry.Decisions).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/secretsql/secretsql/iamtest"
)

// totalTimeout ends the program whatever it is doing.
const totalTimeout = 10 * time.Second

func main() {
	time.AfterFunc(totalTimeout, func() { os.Exit(2) })
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("iamverify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("keys", iamtest.DefaultDir, "key registry `directory`")
	port := fs.Int("port", 0, "the database server's TCP `port` (RDS mode checks it)")
	readTimeout := fs.Duration("read-timeout", 5*time.Second, "how long to wait for the token on standard input")
	if err := fs.Parse(args); err != nil || *port <= 0 || *port > 65535 || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: iamverify [-keys dir] -port port (run by pam_exec with expose_authtok)")
		return 2
	}
	user := os.Getenv("PAM_USER")
	if user == "" || os.Getenv("PAM_TYPE") != "auth" {
		fmt.Fprintln(os.Stderr, "iamverify: PAM_USER unset or PAM_TYPE is not auth")
		return 2
	}
	token, err := readToken(*readTimeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "iamverify:", err)
		return 1
	}
	reg := &iamtest.Registry{Dir: *dir}
	id, _, err := reg.VerifyLogin(token, user, *port, time.Now())
	d := iamtest.Decision{Time: time.Now().UTC(), Service: os.Getenv("PAM_SERVICE"), User: user, Accepted: err == nil}
	if err != nil {
		d.Reason = err.Error()
	}
	if rerr := reg.Record(id, d); rerr != nil {
		fmt.Fprintln(os.Stderr, "iamverify: log:", rerr)
	}
	if err != nil {
		return 1
	}
	return 0
}

// readToken reads the token pam_exec writes on standard input (followed by
// a NUL byte), with a size limit and a deadline.
func readToken(timeout time.Duration) (string, error) {
	// A non-blocking descriptor makes os.NewFile return a pollable file,
	// whose reads honour a deadline.
	if err := syscall.SetNonblock(0, true); err != nil {
		return "", fmt.Errorf("stdin: %w", err)
	}
	in := os.NewFile(0, "stdin")
	if err := in.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", fmt.Errorf("stdin: %w", err)
	}
	const limit = iamtest.MaxTokenSize + 2 // the token, a NUL, and one byte to see it is too long
	b, err := io.ReadAll(io.LimitReader(in, limit))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "", errors.New("stdin: no token within the deadline")
	}
	if err != nil {
		return "", fmt.Errorf("stdin: %w", err)
	}
	if len(b) >= limit {
		return "", fmt.Errorf("stdin: token longer than %d bytes", iamtest.MaxTokenSize)
	}
	for len(b) > 0 && (b[len(b)-1] == 0 || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return string(b), nil
}
