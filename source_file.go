package secretsql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"sync"
	"time"

	"github.com/secretsql/secretsql/internal/smallfile"
)

// fileSource reads a file holding the secret's JSON: one the Secrets Store
// CSI driver mounts (with the AWS provider), or any other. The file is read
// whole (it is at most maxSecretFile bytes) at every refresh and its
// content decides the version (a SHA-256 of it), so any change is seen,
// whatever its size or modification time. A file that does not hold a
// usable secret (a half-written one, say) is an error and never replaces a
// good cached value.
//
// The database changes first and the file follows (the CSI driver polls
// Secrets Manager): after the database rejected the file's credentials, a
// read polls the file every filePoll until its content changes to a usable
// secret, for at most fileChangeWait per read, and is not rate-limited (a
// local read costs nothing), so a connect waits within its retry budget
// for the file to catch up instead of failing. Polling rather than inotify:
// it works the same on every file system and mount (the CSI driver's
// atomic ..data symlink swap, bind mounts, network file systems), and it
// runs only while a connect waits for a change.
type fileSource struct {
	path string

	mu   sync.Mutex
	sum  [sha256.Size]byte // the content last read …
	last *fetched          // … and what it held
}

// fileIdentity: readers of one file share cached values.
type fileIdentity struct{ path string }

var _ source = (*fileSource)(nil)

const (
	// defaultFileTTL is how often a file is checked for a change unless
	// the DSN or WithRefreshInterval says otherwise.
	defaultFileTTL = 10 * time.Second
	// maxSecretFile bounds what is read of a file: a Secrets Manager
	// secret is at most 64 KiB.
	maxSecretFile = 64 << 10
	// filePoll and fileChangeWait: how often and how long a read after a
	// rejected login looks for a change of the file.
	filePoll       = 20 * time.Millisecond
	fileChangeWait = 500 * time.Millisecond
)

func (s *fileSource) describe() sourceInfo {
	return sourceInfo{kind: "file", identity: fileIdentity{path: s.path}, noStages: true, ttl: defaultFileTTL}
}

func (s *fileSource) fetch(ctx context.Context, r fetchRequest) (fetched, error) {
	start := time.Now()
	f, err := s.read()
	if r.rejected != "" {
		// Wait for the file to change from the rejected version to a
		// usable secret: the database changed first.
		deadline := time.NewTimer(fileChangeWait)
		defer deadline.Stop()
		tick := time.NewTicker(filePoll)
		defer tick.Stop()
	poll:
		for err != nil || f.cred.Version == r.rejected {
			select {
			case <-ctx.Done():
				break poll
			case <-deadline.C:
				break poll
			case <-tick.C:
				f, err = s.read()
			}
		}
	}
	ev := Event{Kind: EventFetch, Duration: time.Since(start), VersionID: f.cred.Version}
	if err != nil {
		ev.Kind, ev.Err, ev.VersionID = EventFetchFailed, err, ""
	}
	r.report(ev)
	return f, err
}

// read reads and parses the file; an unchanged content gives the last
// result without parsing again.
func (s *fileSource) read() (fetched, error) {
	b, err := smallfile.Read(s.path, maxSecretFile) // a secret is at most 64 KiB
	if err != nil {
		return fetched{}, s.fail(err, "")
	}
	sum := sha256.Sum256(b)
	s.mu.Lock()
	if s.last != nil && sum == s.sum {
		f := *s.last
		s.mu.Unlock()
		return f, nil
	}
	s.mu.Unlock()
	id := "sha256:" + hex.EncodeToString(sum[:8])
	// Check the value before it can replace a good one: a file being
	// written, or one without the credentials, is refused.
	v, err := parseSecret(b, s.path, id)
	if err == nil && (v.username == "" || v.password == "") {
		err = errors.New("no username or password")
	}
	if err != nil {
		return fetched{}, s.fail(err, "the file does not hold the database secret JSON (a file being written?)")
	}
	f := fetched{cred: v.credential(), arn: "file:" + s.path}
	f.cred.Version = id
	s.mu.Lock()
	s.sum, s.last = sum, &f
	s.mu.Unlock()
	return f, nil
}

// fail makes the FetchError of a file: it names the path (in SecretID) and
// never the file's content.
func (s *fileSource) fail(err error, hint string) error {
	var se *SecretError
	if errors.As(err, &se) { // parseSecret's: keep its reason, drop the rest
		err = errors.New(se.Reason)
		if se.Key != "" {
			err = errors.New("key " + se.Key + ": " + se.Reason)
		}
	}
	fe := &FetchError{SecretID: "file:" + s.path, Stage: "(file)", Kind: ErrMalformedSecret, Err: err, hint: hint, source: "file"}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fe.Kind = ErrSecretNotFound
	case errors.Is(err, fs.ErrPermission):
		fe.Kind = ErrAccessDenied
	}
	return fe
}

// timeoutError is the error of a connect that waited its fetch timeout.
func (s *fileSource) timeoutError() error {
	return s.fail(context.DeadlineExceeded, "reading the file took longer than the fetch timeout")
}
