package secretsql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// fileSource reads a file holding the secret's JSON: one the Secrets Store
// CSI driver mounts (with the AWS provider), or any other. The CSI driver
// replaces the file atomically (a "..data" symlink swapped to a new
// directory); the file is read again when its target, size or modification
// time changes, and on every forced read. A file that does not hold a
// usable secret (a half-written one, say) is an error and never replaces
// a good cached value.
type fileSource struct {
	path string

	mu   sync.Mutex
	seen fileStamp   // the file as last read
	last sourceValue // what it held
}

// fileStamp tells whether a file changed.
type fileStamp struct {
	target  string // the path after symlinks (the CSI driver's ..data swap)
	size    int64
	modTime time.Time
}

// fileIdentity: readers of one file share cached values.
type fileIdentity struct{ path string }

var _ source = (*fileSource)(nil)

// defaultFileTTL is how often a file is checked for a change unless the
// DSN or WithRefreshInterval says otherwise.
const defaultFileTTL = 10 * time.Second

func (s *fileSource) identity() any { return fileIdentity{path: s.path} }

func (s *fileSource) describe() sourceInfo {
	return sourceInfo{kind: "file", noStages: true, ttl: defaultFileTTL}
}

func (s *fileSource) read(ctx context.Context, r readRequest) (sourceValue, error) {
	stamp, err := statFile(s.path)
	if err != nil {
		return sourceValue{}, s.fail(r, err, "the file cannot be read")
	}
	s.mu.Lock()
	if !r.fresh && stamp == s.seen && s.last.versionID != "" {
		v := s.last
		s.mu.Unlock()
		return v, nil
	}
	s.mu.Unlock()
	b, err := os.ReadFile(s.path)
	if err != nil {
		return sourceValue{}, s.fail(r, err, "the file cannot be read")
	}
	// Check the value before it can replace a good one: a file being
	// written, or one without the credentials, is refused.
	sv, err := parseSecret(b, r.secretID, "")
	if err == nil && (sv.username == "" || sv.password == "") {
		err = errors.New("no username or password")
	}
	if err != nil {
		return sourceValue{}, s.fail(r, err, "the file does not hold the database secret JSON (a file being written?)")
	}
	sum := sha256.Sum256(b)
	v := sourceValue{arn: r.secretID, versionID: "sha256:" + hex.EncodeToString(sum[:8]), value: b}
	s.mu.Lock()
	s.seen, s.last = stamp, v
	s.mu.Unlock()
	return v, nil
}

func statFile(path string) (fileStamp, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fileStamp{}, err
	}
	fi, err := os.Stat(target)
	if err != nil {
		return fileStamp{}, err
	}
	if fi.IsDir() {
		return fileStamp{}, errors.New("a directory, not a file")
	}
	return fileStamp{target: target, size: fi.Size(), modTime: fi.ModTime()}, nil
}

// fail makes the FetchError of a file: it names the path (in SecretID) and
// never the file's content.
func (s *fileSource) fail(r readRequest, err error, hint string) error {
	var se *SecretError
	if errors.As(err, &se) { // parseSecret's: keep its reason, drop the rest
		err = errors.New(se.Reason)
		if se.Key != "" {
			err = errors.New("key " + se.Key + ": " + se.Reason)
		}
	}
	fe := &FetchError{SecretID: r.secretID, Stage: "(file)", Kind: ErrMalformedSecret, Err: err, hint: hint}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fe.Kind = ErrSecretNotFound
	case errors.Is(err, fs.ErrPermission):
		fe.Kind = ErrAccessDenied
	}
	return fe
}
