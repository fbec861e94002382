package iamtest

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultDir is the key registry of the test bed: scripts/testbed.sh
// creates it (mode 1777, like /tmp: anyone may add a key, only its owner
// may remove it) and the PAM program reads it as the database server's user.
const DefaultDir = "/run/secretsql-iamtest/keys"

// maxKeyFile bounds the size of a key file the PAM program reads, and
// maxLogSize the size a key's log may grow to.
const (
	maxKeyFile = 64 << 10
	maxLogSize = 1 << 20
)

// AccessKey is an access key that the test bed's PAM program honours: a
// token signed with it logs in to PostgreSQL and MariaDB users of the test
// bed if the verifier accepts it.
type AccessKey struct {
	// AccessKeyID and SecretAccessKey are the AWS credentials that sign
	// tokens. NewKey makes random ones if they are empty.
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	// SessionToken, when set, must be in every token (temporary
	// credentials).
	SessionToken string `json:"session_token,omitempty"`
	// Mode is RDS (default) or DSQL.
	Mode Mode `json:"mode"`
	// Lifetime, when positive, shortens the accepted lifetime of the tokens
	// (see Expect.Lifetime): a second makes expiry testable.
	Lifetime time.Duration `json:"lifetime,omitempty"`
	// Region, when set, is the only region accepted.
	Region string `json:"region,omitempty"`
	// Hosts are the host names the servers answer as for this key
	// (default 127.0.0.1 and localhost); the PAM program adds its server's
	// port in RDS mode.
	Hosts []string `json:"hosts,omitempty"`
	// AdminUser is the DSQL user that needs DbConnectAdmin (default
	// DefaultAdminUser).
	AdminUser string `json:"admin_user,omitempty"`
}

// DefaultHosts are the hosts of an AccessKey without Hosts.
var DefaultHosts = []string{"127.0.0.1", "localhost"}

// Expect returns what the verifier checks a login of user to the server on
// port (ignored in DSQL mode) at now with this key's settings.
func (k AccessKey) Expect(user string, port int, now time.Time) Expect {
	hosts := k.Hosts
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	var endpoints []string
	for _, h := range hosts {
		if k.Mode == DSQL {
			endpoints = append(endpoints, h)
		} else {
			endpoints = append(endpoints, joinHostPort(h, port))
		}
	}
	return Expect{
		Mode: k.Mode, User: user, Endpoints: endpoints, Region: k.Region,
		AdminUser: k.AdminUser, Lifetime: k.Lifetime, Now: now,
	}
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return fmt.Sprintf("[%s]:%d", host, port)
	}
	return fmt.Sprintf("%s:%d", host, port)
}

// Key returns the verifier's view of the key.
func (k AccessKey) Key() Key {
	return Key{SecretAccessKey: k.SecretAccessKey, SessionToken: k.SessionToken}
}

// String names the key without its secrets.
func (k AccessKey) String() string {
	return fmt.Sprintf("iamtest.AccessKey{%s, mode %s}", k.AccessKeyID, k.mode())
}

// GoString is String, so that %#v prints no secret either.
func (k AccessKey) GoString() string { return k.String() }

func (k AccessKey) mode() Mode {
	if k.Mode == "" {
		return RDS
	}
	return k.Mode
}

// Registry is a directory of access keys, one file per access key id, that
// the PAM program reads. Tests that each add their own random key never
// interfere, whether they run one after the other or at once, in one
// process or several.
type Registry struct {
	// Dir is the directory (DefaultDir for the test bed).
	Dir string
}

// ErrNoRegistry is returned when the registry directory does not exist:
// scripts/testbed.sh has not prepared the test bed.
var ErrNoRegistry = errors.New("iamtest: no key registry (run scripts/testbed.sh as root)")

// PAMMaxToken is the longest token the test bed's PAM services can verify:
// pam_exec passes at most 511 bytes of a password to its program
// (PAM_MAX_RESP_SIZE, 512 with the NUL), and a token of exactly 511 bytes
// may have been cut. Tokens signed with temporary credentials (a session token)
// are longer; sign test tokens with a long-term key (AccessKey without
// SessionToken) and a short user name and host.
const PAMMaxToken = 510

// ErrTooLong is the PAM program's refusal of a token longer than
// PAMMaxToken.
var ErrTooLong = errors.New("iamtest: token too long for pam_exec (511 bytes or more reached the verifier, which may be a cut token; the test bed verifies tokens of at most 510 bytes)")

// validAccessKeyID reports whether id can name a key file: 16 to 128
// upper-case letters and digits, as AWS access key ids are. The PAM
// program reads the id from a hostile token, so this also keeps it inside
// the directory.
func validAccessKeyID(id string) bool {
	if len(id) < 16 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func (r *Registry) path(id, ext string) string { return filepath.Join(r.Dir, id+ext) }

// NewKey fills in a random access key id (AKIA and 16 upper-case letters
// and digits) and secret key (40 characters) if k has none.
func NewKey(k AccessKey) AccessKey {
	if k.AccessKeyID == "" {
		k.AccessKeyID = "AKIA" + rand.Text()[:16]
	}
	if k.SecretAccessKey == "" {
		k.SecretAccessKey = rand.Text() + rand.Text()[:14]
	}
	return k
}

// Add writes k to the registry (atomically: the PAM program never reads
// half a key) with an empty log, after filling in a random id and secret
// if k has none, and returns the key as written.
func (r *Registry) Add(k AccessKey) (AccessKey, error) {
	k = NewKey(k)
	if !validAccessKeyID(k.AccessKeyID) {
		return k, fmt.Errorf("iamtest: access key id %q: want 16 to 128 upper-case letters and digits", k.AccessKeyID)
	}
	if k.Mode != "" && k.Mode != RDS && k.Mode != DSQL {
		return k, fmt.Errorf("iamtest: unknown mode %q", k.Mode)
	}
	if _, err := os.Stat(r.Dir); errors.Is(err, os.ErrNotExist) {
		return k, fmt.Errorf("%w: %s is missing", ErrNoRegistry, r.Dir)
	}
	b, err := json.Marshal(k)
	if err != nil {
		return k, err
	}
	// The log first, writable by the servers' users (the PAM program runs
	// as postgres or mysql).
	logPath := r.path(k.AccessKeyID, ".log")
	if err := os.WriteFile(logPath, nil, 0o666); err != nil {
		return k, fmt.Errorf("iamtest: create the log of %s: %w", k.AccessKeyID, err)
	}
	if err := os.Chmod(logPath, 0o666); err != nil { // whatever the umask
		return k, err
	}
	tmp, err := os.CreateTemp(r.Dir, ".tmp-"+k.AccessKeyID+"-*")
	if err != nil {
		return k, fmt.Errorf("iamtest: add key %s: %w", k.AccessKeyID, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	err = errors.Join(err, tmp.Chmod(0o644), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), r.path(k.AccessKeyID, ".json"))
	}
	if err != nil {
		return k, fmt.Errorf("iamtest: add key %s: %w", k.AccessKeyID, err)
	}
	return k, nil
}

// Remove deletes the key with id and its log.
func (r *Registry) Remove(id string) error {
	if !validAccessKeyID(id) {
		return fmt.Errorf("iamtest: invalid access key id %q", id)
	}
	err := os.Remove(r.path(id, ".json"))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	err2 := os.Remove(r.path(id, ".log"))
	if errors.Is(err2, os.ErrNotExist) {
		err2 = nil
	}
	return errors.Join(err, err2)
}

// Get reads the key with id; a missing key is (nil, nil). The file is read
// with a size limit: the id comes from a token.
func (r *Registry) Get(id string) (*AccessKey, error) {
	if !validAccessKeyID(id) {
		return nil, nil
	}
	f, err := os.Open(r.path(id, ".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("iamtest: key file of %s is over %d bytes", id, maxKeyFile)
	}
	var k AccessKey
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("iamtest: key file of %s: %w", id, err)
	}
	if k.AccessKeyID != id {
		return nil, fmt.Errorf("iamtest: key file of %s names %q", id, k.AccessKeyID)
	}
	return &k, nil
}

// Decision is one line of a key's log: what the PAM program decided for a
// login with a token signed by the key.
type Decision struct {
	Time     time.Time `json:"time"`
	Service  string    `json:"service"` // the PAM service
	User     string    `json:"user"`    // the login user
	Accepted bool      `json:"accepted"`
	// Reason is the verifier's error when the token was refused. It holds
	// no part of the token but the access key id, user, endpoint and times.
	Reason string `json:"reason,omitempty"`
}

// Record appends d to the log of key id, unless the log is missing (only
// keys added with Add have one) or has reached its size limit.
func (r *Registry) Record(id string, d Decision) error {
	if !validAccessKeyID(id) {
		return nil
	}
	f, err := os.OpenFile(r.path(id, ".log"), os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() > maxLogSize {
		return err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n')) // one write: O_APPEND keeps lines whole
	return err
}

// Decisions returns the log of key id, oldest first.
func (r *Registry) Decisions(id string) ([]Decision, error) {
	if !validAccessKeyID(id) {
		return nil, fmt.Errorf("iamtest: invalid access key id %q", id)
	}
	f, err := os.Open(r.path(id, ".log"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ds []Decision
	sc := bufio.NewScanner(io.LimitReader(f, maxLogSize+64<<10))
	for sc.Scan() {
		var d Decision
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return ds, fmt.Errorf("iamtest: log of %s: %w", id, err)
		}
		ds = append(ds, d)
	}
	return ds, sc.Err()
}

// VerifyLogin is what the PAM program does for a login of user to the
// server on port: it reads the key of the token's access key from the
// registry and verifies the token with the key's settings at now. The
// returned access key id (empty if the token names none) says whose log the
// decision belongs to.
//
// pam_exec hands a program at most 511 bytes of the password
// (PAM_MAX_RESP_SIZE, 512 with the terminating NUL) and silently drops the
// rest, so a token of 511 bytes or more is refused as ErrTooLong: it may
// have been cut, and bytes past the cut would go unchecked.
func (r *Registry) VerifyLogin(token, user string, port int, now time.Time) (accessKeyID string, tok *Token, err error) {
	accessKeyID = tokenAccessKeyID(token)
	if len(token) >= PAMMaxToken+1 {
		return accessKeyID, nil, fmt.Errorf("%w: %d bytes reached the verifier", ErrTooLong, len(token))
	}
	k, err := r.Get(accessKeyID)
	if err != nil {
		return accessKeyID, nil, err
	}
	if k == nil {
		k = &AccessKey{} // Verify refuses it as ErrUnknownKey (or ErrMalformed)
	}
	tok, err = Verify(token, k.Expect(user, port, now), func(id string) (Key, bool) {
		return k.Key(), id == k.AccessKeyID && id != ""
	})
	return accessKeyID, tok, err
}

// tokenAccessKeyID returns the access key id of X-Amz-Credential, or "".
func tokenAccessKeyID(token string) string {
	if len(token) > MaxTokenSize {
		return ""
	}
	_, q, _ := strings.Cut(token, "?")
	params, err := parseQuery(q)
	if err != nil {
		return ""
	}
	id, _, _ := strings.Cut(params["X-Amz-Credential"], "/")
	return id
}
