package smtest

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/secretsql/secretsql/internal/rotation"
)

// version is one immutable value of a secret. A version that RotateSecret
// made and no PutSecretValue has filled yet has no value (str and bin nil).
type version struct {
	id           string
	str          *string
	bin          []byte
	created      time.Time
	lastAccessed time.Time
}

// secret is a secret with its versions. The labels map is the single source
// of truth for staging labels, which guarantees that a label is attached to at
// most one version.
type secret struct {
	seq          uint64 // creation order
	name         string
	arn          string
	description  string
	kmsKeyID     string
	created      time.Time
	lastChanged  time.Time
	lastAccessed time.Time
	deletedDate  time.Time // when DeleteSecret was called; zero if not scheduled
	deletionDate time.Time // when the secret is (lazily) purged
	versions     map[string]*version
	order        []*version        // creation order
	labels       map[string]string // staging label -> version ID
	tags         []tag             // in the order they were first set
	rotation     rotationState
	replication  // its region, and replicas (regions.go)
}

func (sec *secret) scheduledForDeletion() bool { return !sec.deletedDate.IsZero() }

// stagesOf returns the staging labels attached to version id, sorted.
func (sec *secret) stagesOf(id string) []string {
	var out []string
	for label, vid := range sec.labels {
		if vid == id {
			out = append(out, label)
		}
	}
	slices.Sort(out)
	return out
}

// versionIDsToStages returns the versions that carry at least one label, as
// DescribeSecret reports them.
func (sec *secret) versionIDsToStages() map[string][]string {
	m := make(map[string][]string)
	for label, vid := range sec.labels {
		m[vid] = append(m[vid], label)
	}
	for _, stages := range m {
		slices.Sort(stages)
	}
	return m
}

// attachLabel moves label to version id. Moving AWSCURRENT away from a
// version labels that version AWSPREVIOUS (taking AWSPREVIOUS off whatever
// version had it), as Secrets Manager does.
func (sec *secret) attachLabel(label, id string) {
	old, had := sec.labels[label]
	sec.labels[label] = id
	if label == rotation.StageCurrent && had && old != id {
		sec.labels[rotation.StagePrevious] = old
	}
}

// MaxVersions is how many versions a secret keeps, as Secrets Manager
// keeps about 100: when a new version makes more, the oldest versions
// without a staging label (deprecated) are removed until there are
// MaxVersions again, or no deprecated version is left. A version that
// carries a label is never removed. (Secrets Manager also keeps versions
// younger than 24 hours; the emulator does not wait, so that its memory
// stays bounded however fast versions are put.)
const MaxVersions = 100

// addVersion stores a new version and attaches stages to it. The first
// version of a secret always gets AWSCURRENT.
func (sec *secret) addVersion(v *version, stages []string, now time.Time) {
	first := len(sec.versions) == 0
	sec.versions[v.id] = v
	sec.order = append(sec.order, v)
	if first && !slices.Contains(stages, rotation.StageCurrent) {
		stages = append([]string{rotation.StageCurrent}, stages...)
	}
	sec.attachLabels(v.id, stages, now)
	sec.pruneVersions()
}

// pruneVersions removes the oldest deprecated versions beyond MaxVersions
// (see MaxVersions).
func (sec *secret) pruneVersions() {
	excess := len(sec.order) - MaxVersions
	if excess <= 0 {
		return
	}
	labelled := make(map[string]bool, len(sec.labels))
	for _, id := range sec.labels {
		labelled[id] = true
	}
	kept := sec.order[:0]
	for _, v := range sec.order {
		if excess > 0 && !labelled[v.id] {
			delete(sec.versions, v.id)
			excess--
			continue
		}
		kept = append(kept, v)
	}
	clear(sec.order[len(kept):]) // let the removed values be collected
	sec.order = kept
}

// attachLabels attaches stages to version id, AWSCURRENT first so that an
// explicitly requested AWSPREVIOUS wins over the automatic one.
func (sec *secret) attachLabels(id string, stages []string, now time.Time) {
	if slices.Contains(stages, rotation.StageCurrent) {
		sec.attachLabel(rotation.StageCurrent, id)
	}
	for _, st := range stages {
		if st != rotation.StageCurrent {
			sec.attachLabel(st, id)
		}
	}
	sec.lastChanged = now
}

// addPendingVersion adds the version RotateSecret makes: no value yet,
// staged AWSPENDING (taken off whatever version had it).
func (sec *secret) addPendingVersion(id string, now time.Time) {
	v := &version{id: id, created: now}
	sec.versions[id] = v
	sec.order = append(sec.order, v)
	sec.attachLabel(rotation.StagePending, id)
	sec.lastChanged = now
	sec.pruneVersions()
}

// hasValue reports whether v holds a value (nil has none).
func (v *version) hasValue() bool { return v != nil && (v.str != nil || v.bin != nil) }

// sameValue reports whether v holds exactly the given value.
func (v *version) sameValue(str *string, bin []byte) bool {
	if (v.str == nil) != (str == nil) {
		return false
	}
	if str != nil {
		return *v.str == *str
	}
	return bytes.Equal(v.bin, bin)
}

// store holds every secret. It is guarded by Server.mu.
type store struct {
	byName map[string]*secret
	byARN  map[string]*secret
	// arnNames remembers every ARN ever issued, so that calls made with an
	// ARN can still be attributed to a name after the secret is gone.
	arnNames map[string]string
	seq      uint64 // last secret sequence number issued
}

func newStore() *store {
	return &store{
		byName:   map[string]*secret{},
		byARN:    map[string]*secret{},
		arnNames: map[string]string{},
	}
}

// lookup resolves a SecretId: a name, a full ARN, or a partial ARN (the full
// ARN without its "-XXXXXX" suffix) in the store's region and account.
// Secrets whose recovery window has passed are purged first. A replica
// comes back as a view of its primary (see secret.resolved).
func (st *store) lookup(id, arnPrefix string, now time.Time) *secret {
	var sec *secret
	if strings.HasPrefix(id, "arn:") {
		sec = st.byARN[id]
		if sec == nil {
			if name, ok := strings.CutPrefix(id, arnPrefix); ok {
				sec = st.byName[name]
			}
		}
	} else {
		sec = st.byName[id]
	}
	if sec != nil && sec.scheduledForDeletion() && !now.Before(sec.deletionDate) {
		st.remove(sec)
		return nil
	}
	return sec.resolved()
}

// nameOf returns the secret name a SecretId refers to, or "" if it cannot
// be told. Unlike lookup it also knows ARNs of deleted secrets.
func (st *store) nameOf(id, arnPrefix string) string {
	if !strings.HasPrefix(id, "arn:") {
		return id
	}
	if sec := st.byARN[id]; sec != nil {
		return sec.name
	}
	if name, ok := st.arnNames[id]; ok {
		return name
	}
	if name, ok := strings.CutPrefix(id, arnPrefix); ok {
		return name
	}
	return ""
}

func (st *store) add(sec *secret) {
	st.seq++
	sec.seq = st.seq
	st.byName[sec.name] = sec
	st.byARN[sec.arn] = sec
	st.arnNames[sec.arn] = sec.name
}

func (st *store) remove(sec *secret) {
	if st.byName[sec.name] == sec {
		delete(st.byName, sec.name)
	}
	if st.byARN[sec.arn] == sec {
		delete(st.byARN, sec.arn)
	}
}

// purgeExpired removes every secret whose recovery window has passed.
func (st *store) purgeExpired(now time.Time) {
	for _, sec := range st.byName {
		if sec.scheduledForDeletion() && !now.Before(sec.deletionDate) {
			st.remove(sec)
		}
	}
}

// sorted returns all secrets in creation order, replicas as views.
func (st *store) sorted() []*secret {
	out := make([]*secret, 0, len(st.byName))
	for _, sec := range st.byName {
		out = append(out, sec.resolved())
	}
	slices.SortFunc(out, func(a, b *secret) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// validName reports whether name uses only the characters Secrets Manager
// allows in secret names: ASCII letters, digits and /_+=.@-.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("/_+=.@-", c):
		default:
			return false
		}
	}
	return true
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// arnSuffix returns the 6 random alphanumeric characters AWS appends to a
// secret's ARN.
func arnSuffix() string {
	b := make([]byte, 6)
	for i := range b {
		b[i] = alnum[mrand.IntN(len(alnum))]
	}
	return string(b)
}

// newUUID returns a random (version 4) UUID, the form AWS uses for version IDs.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// partition returns the AWS partition of a region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	}
	return "aws"
}

// day truncates t to midnight UTC; AWS keeps LastAccessedDate to the day.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
