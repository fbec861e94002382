package smtest

import (
	"fmt"
	"slices"
	"time"
)

// CreateSecret stores a new secret with a string value labelled AWSCURRENT
// and returns its ARN. It acts on the store directly: it is not an API call,
// is not counted or logged, and ignores Deny and FailNext. It panics if name
// is invalid or a secret with that name exists (even one scheduled for
// deletion).
func (s *Server) CreateSecret(name, secretString string) (arn string) {
	return s.seed(name, &secretString, nil)
}

// CreateBinarySecret is like CreateSecret for a SecretBinary value.
func (s *Server) CreateBinarySecret(name string, b []byte) (arn string) {
	if b == nil {
		b = []byte{}
	}
	return s.seed(name, nil, b)
}

func (s *Server) seed(name string, str *string, bin []byte) string {
	if !validName(name) || len(name) > maxNameLen {
		panic(fmt.Sprintf("smtest: CreateSecret: invalid secret name %q", name))
	}
	now := time.UnixMilli(time.Now().UnixMilli())
	s.mu.Lock()
	defer s.mu.Unlock()
	rg := s.regions.primary
	if rg.store.lookup(name, rg.arnPrefix, now) != nil {
		panic(fmt.Sprintf("smtest: CreateSecret: secret %q already exists", name))
	}
	sec := s.newSecretLocked(rg, name, now)
	if _, aerr := s.putVersionLocked(sec, nil, str, bin, nil, now); aerr != nil {
		panic("smtest: CreateSecret: " + aerr.Error())
	}
	rg.store.add(sec)
	return sec.arn
}

// PutSecretString adds a new string version to an existing secret and
// returns its version ID. The version gets the given staging labels, by
// default AWSCURRENT; each label is taken off the version that had it, and
// moving AWSCURRENT labels the previous current version AWSPREVIOUS, exactly
// as PutSecretValue does. secretID may be a name, full ARN or partial ARN,
// in any served region (a name is looked up in the primary region first).
// Like CreateSecret it bypasses the API (no counting, Deny, FailNext, or
// deletion checks). It panics if the secret does not exist.
func (s *Server) PutSecretString(secretID, value string, stages ...string) (versionID string) {
	now := time.UnixMilli(time.Now().UnixMilli())
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookupLocked(secretID, now)
	if sec == nil {
		panic(fmt.Sprintf("smtest: PutSecretString: no secret %q", secretID))
	}
	if sec.replica != nil {
		sec = sec.replica.primary // a replica changes with its primary only
	}
	v, aerr := s.putVersionLocked(sec, nil, &value, nil, slices.Clone(stages), now)
	if aerr != nil {
		panic("smtest: PutSecretString: " + aerr.Error())
	}
	return v.id
}

// SecretVersions returns the secret's VersionIdsToStages as DescribeSecret
// reports it: every version that carries at least one staging label, with
// its labels sorted. Versions without labels (deprecated) are left out. It
// returns nil if there is no such secret (secretID as for PutSecretString).
// It is not an API call.
func (s *Server) SecretVersions(secretID string) map[string][]string {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookupLocked(secretID, now)
	if sec == nil {
		return nil
	}
	return sec.versionIDsToStages()
}
