package smtest

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

type opFunc func(s *Server, body []byte, now time.Time) (any, *apiError)

// operations are the emulated Secrets Manager operations.
var operations = map[string]opFunc{
	"BatchGetSecretValue":      (*Server).batchGetSecretValue,
	"CreateSecret":             (*Server).createSecret,
	"DeleteSecret":             (*Server).deleteSecret,
	"DescribeSecret":           (*Server).describeSecret,
	"GetSecretValue":           (*Server).getSecretValue,
	"ListSecretVersionIds":     (*Server).listSecretVersionIDs,
	"ListSecrets":              (*Server).listSecrets,
	"PutSecretValue":           (*Server).putSecretValue,
	"RestoreSecret":            (*Server).restoreSecret,
	"UpdateSecret":             (*Server).updateSecret,
	"UpdateSecretVersionStage": (*Server).updateSecretVersionStage,
}

// notEmulated are the real Secrets Manager operations the emulator does not
// implement; they are refused with a clearer message than unknown ones.
var notEmulated = map[string]bool{
	"CancelRotateSecret":           true,
	"DeleteResourcePolicy":         true,
	"GetRandomPassword":            true,
	"GetResourcePolicy":            true,
	"PutResourcePolicy":            true,
	"RemoveRegionsFromReplication": true,
	"ReplicateSecretToRegions":     true,
	"RotateSecret":                 true,
	"StopReplicationToReplica":     true,
	"TagResource":                  true,
	"UntagResource":                true,
	"ValidateResourcePolicy":       true,
}

// epoch is a timestamp encoded as fractional epoch seconds, as AWS JSON
// protocols do.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(time.Time(t).UnixMilli())/1000, 'f', -1, 64), nil
}

// IsZero makes `json:",omitzero"` leave out unset timestamps.
func (t epoch) IsZero() bool { return time.Time(t).IsZero() }

// Limits from the Secrets Manager API reference.
const (
	maxSecretIDLen    = 2048
	maxNameLen        = 512
	maxDescriptionLen = 2048
	maxSecretValueLen = 65536
	maxStageLen       = 256
	maxStagesPerCall  = 20
	minTokenLen       = 32
	maxTokenLen       = 64
	maxBatchIDs       = 20
)

// ---- shared helpers (all called with s.mu held) ----

// resolveLocked finds the secret for id, enforcing Deny. allowDeleted
// decides whether a secret scheduled for deletion is returned or refused
// with InvalidRequestException.
func (s *Server) resolveLocked(op, id string, allowDeleted bool, now time.Time) (*secret, *apiError) {
	sec := s.store.lookup(id, s.arnPrefix, now)
	if s.isDeniedLocked(id, sec) {
		resource := s.arnPrefix + id
		if strings.HasPrefix(id, "arn:") {
			resource = id
		}
		if sec != nil {
			resource = sec.arn
		}
		return nil, errAccessDenied(op, resource)
	}
	if sec == nil {
		return nil, errNotFound()
	}
	if !allowDeleted && sec.scheduledForDeletion() {
		return nil, errMarkedForDeletion()
	}
	return sec, nil
}

// readLocked is the core of GetSecretValue: it picks the version named by
// versionID and/or stage (default AWSCURRENT) and records the access.
func (s *Server) readLocked(op, id string, versionID, stage *string, now time.Time) (*secret, *version, *apiError) {
	sec, aerr := s.resolveLocked(op, id, false, now)
	if aerr != nil {
		return nil, nil, aerr
	}
	var v *version
	switch {
	case versionID != nil:
		v = sec.versions[*versionID]
		if v == nil {
			return nil, nil, newError(codeResourceNotFound,
				"Secrets Manager can't find the specified secret value for VersionId: %s", *versionID)
		}
		if stage != nil && sec.labels[*stage] != v.id {
			return nil, nil, newError(codeResourceNotFound,
				"Secrets Manager can't find the specified secret value for VersionId: %s and staging label: %s", *versionID, *stage)
		}
	default:
		label := stageCurrent
		if stage != nil {
			label = *stage
		}
		vid, ok := sec.labels[label]
		if !ok {
			return nil, nil, newError(codeResourceNotFound,
				"Secrets Manager can't find the specified secret value for staging label: %s", label)
		}
		v = sec.versions[vid]
	}
	sec.lastAccessed = day(now)
	v.lastAccessed = day(now)
	return sec, v, nil
}

type secretValueEntry struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	SecretString  *string  `json:"SecretString,omitempty"`
	SecretBinary  []byte   `json:"SecretBinary,omitempty"`
	VersionStages []string `json:"VersionStages,omitempty"`
	CreatedDate   epoch    `json:"CreatedDate,omitzero"`
}

func valueEntry(sec *secret, v *version) secretValueEntry {
	return secretValueEntry{
		ARN:           sec.arn,
		Name:          sec.name,
		VersionID:     v.id,
		SecretString:  v.str,
		SecretBinary:  v.bin,
		VersionStages: sec.stagesOf(v.id),
		CreatedDate:   epoch(v.created),
	}
}

// checkValue validates a SecretString/SecretBinary pair.
func checkValue(val *validation, str *string, bin []byte) {
	val.length("secretString", str, 0, maxSecretValueLen)
	if len(bin) > maxSecretValueLen {
		val.custom("Value at 'secretBinary' failed to satisfy constraint: Member must have length less than or equal to 65536")
	}
}

func errBothValues() *apiError {
	return newError(codeInvalidParameter,
		"You can't specify both a binary secret value and a string secret value in the same secret.")
}

// putVersionLocked adds a version with the given value, honouring
// ClientRequestToken idempotency: the same token and value return the
// existing version unchanged, the same token with another value is
// ResourceExistsException.
func (s *Server) putVersionLocked(sec *secret, token *string, str *string, bin []byte, stages []string, now time.Time) (*version, *apiError) {
	id := newUUID()
	if token != nil {
		id = *token
		if old := sec.versions[id]; old != nil {
			if old.sameValue(str, bin) {
				return old, nil
			}
			return nil, newError(codeResourceExists,
				"You can't modify an existing version, you can only create new versions.")
		}
	}
	v := &version{id: id, str: cloneString(str), bin: slices.Clone(bin), created: now}
	if len(stages) == 0 {
		stages = []string{stageCurrent}
	}
	sec.addVersion(v, stages, now)
	return v, nil
}

func cloneString(p *string) *string {
	if p == nil {
		return nil
	}
	s := *p
	return &s
}

func encodeToken(offset int) string {
	return base64.StdEncoding.EncodeToString([]byte("smtest:" + strconv.Itoa(offset)))
}

func decodeToken(tok *string) (int, *apiError) {
	if tok == nil {
		return 0, nil
	}
	raw, err := base64.StdEncoding.DecodeString(*tok)
	if err == nil {
		if n, ok := strings.CutPrefix(string(raw), "smtest:"); ok {
			if off, err := strconv.Atoi(n); err == nil && off >= 0 {
				return off, nil
			}
		}
	}
	return 0, newError(codeInvalidNextToken, "The NextToken value is invalid.")
}

// page returns the [from, to) window and the NextToken for a listing of n
// items.
func page(n int, tok *string, maxResults *int64, defaultMax int) (from, to int, next string, aerr *apiError) {
	from, aerr = decodeToken(tok)
	if aerr != nil {
		return 0, 0, "", aerr
	}
	if from > n {
		from = n
	}
	limit := defaultMax
	if maxResults != nil {
		limit = int(*maxResults)
	}
	to = min(from+limit, n)
	if to < n {
		next = encodeToken(to)
	}
	return from, to, next, nil
}

// ---- CreateSecret ----

type createSecretInput struct {
	Name               *string `json:"Name"`
	SecretString       *string `json:"SecretString"`
	SecretBinary       []byte  `json:"SecretBinary"`
	ClientRequestToken *string `json:"ClientRequestToken"`
	Description        *string `json:"Description"`
	KmsKeyID           *string `json:"KmsKeyId"`
}

type createSecretOutput struct {
	ARN       string `json:"ARN"`
	Name      string `json:"Name"`
	VersionID string `json:"VersionId,omitempty"`
}

func (s *Server) createSecret(body []byte, now time.Time) (any, *apiError) {
	var in createSecretInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	var val validation
	val.required("name", in.Name != nil)
	val.length("name", in.Name, 1, maxNameLen)
	val.length("clientRequestToken", in.ClientRequestToken, minTokenLen, maxTokenLen)
	val.length("description", in.Description, 0, maxDescriptionLen)
	checkValue(&val, in.SecretString, in.SecretBinary)
	if aerr := val.err(); aerr != nil {
		return nil, aerr
	}
	if !validName(*in.Name) {
		return nil, newError(codeInvalidParameter,
			"Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if in.SecretString != nil && in.SecretBinary != nil {
		return nil, errBothValues()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	name := *in.Name
	if s.isDeniedLocked(name, nil) {
		return nil, errAccessDenied("CreateSecret", s.arnPrefix+name)
	}
	if old := s.store.lookup(name, s.arnPrefix, now); old != nil {
		if old.scheduledForDeletion() {
			return nil, newError(codeInvalidRequest,
				"You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		return nil, newError(codeResourceExists, "The operation failed because the secret %s already exists.", name)
	}
	sec := s.newSecretLocked(name, now)
	if in.Description != nil {
		sec.description = *in.Description
	}
	if in.KmsKeyID != nil {
		sec.kmsKeyID = *in.KmsKeyID
	}
	out := createSecretOutput{ARN: sec.arn, Name: sec.name}
	if in.SecretString != nil || in.SecretBinary != nil {
		v, aerr := s.putVersionLocked(sec, in.ClientRequestToken, in.SecretString, in.SecretBinary, nil, now)
		if aerr != nil {
			return nil, aerr
		}
		out.VersionID = v.id
	}
	s.store.add(sec)
	return out, nil
}

func (s *Server) newSecretLocked(name string, now time.Time) *secret {
	var arn string
	for {
		arn = s.arnPrefix + name + "-" + arnSuffix()
		if _, taken := s.store.arnNames[arn]; !taken {
			break
		}
	}
	return &secret{
		name:        name,
		arn:         arn,
		created:     now,
		lastChanged: now,
		versions:    map[string]*version{},
		labels:      map[string]string{},
	}
}

// ---- GetSecretValue ----

type getSecretValueInput struct {
	SecretID     *string `json:"SecretId"`
	VersionID    *string `json:"VersionId"`
	VersionStage *string `json:"VersionStage"`
}

func validateRead(val *validation, secretID, versionID, stage *string) {
	val.required("secretId", secretID != nil)
	val.length("secretId", secretID, 1, maxSecretIDLen)
	val.length("versionId", versionID, minTokenLen, maxTokenLen)
	val.length("versionStage", stage, 1, maxStageLen)
}

func (s *Server) getSecretValue(body []byte, now time.Time) (any, *apiError) {
	var in getSecretValueInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	var val validation
	validateRead(&val, in.SecretID, in.VersionID, in.VersionStage)
	if aerr := val.err(); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, v, aerr := s.readLocked("GetSecretValue", *in.SecretID, in.VersionID, in.VersionStage, now)
	if aerr != nil {
		return nil, aerr
	}
	return valueEntry(sec, v), nil
}

// ---- BatchGetSecretValue ----

type filter struct {
	Key    *string  `json:"Key"`
	Values []string `json:"Values"`
}

var filterKeys = []string{"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}

func validateFilters(val *validation, filters []filter) {
	for i, f := range filters {
		if f.Key != nil && !slices.Contains(filterKeys, *f.Key) {
			val.custom("Value '" + *f.Key + "' at 'filters." + strconv.Itoa(i+1) +
				".member.key' failed to satisfy constraint: Member must satisfy enum value set: [" +
				strings.Join(filterKeys, ", ") + "]")
		}
		if len(f.Values) > 10 {
			val.custom("Value at 'filters." + strconv.Itoa(i+1) +
				".member.values' failed to satisfy constraint: Member must have length less than or equal to 10")
		}
	}
}

// matches reports whether sec passes every filter (filters are ANDed, the
// values of one filter ORed; a value starting with "!" is negated).
func matches(sec *secret, filters []filter) bool {
	for _, f := range filters {
		if f.Key == nil || len(f.Values) == 0 {
			continue
		}
		ok := false
		for _, v := range f.Values {
			neg := strings.HasPrefix(v, "!")
			m := matchKey(*f.Key, strings.TrimPrefix(v, "!"), sec)
			if m != neg {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func matchKey(key, v string, sec *secret) bool {
	switch key {
	case "name":
		return strings.HasPrefix(sec.name, v)
	case "description":
		return strings.HasPrefix(strings.ToLower(sec.description), strings.ToLower(v))
	case "all":
		words := strings.FieldsFunc(strings.ToLower(sec.name+" "+sec.description), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		})
		for _, q := range strings.Fields(strings.ToLower(v)) {
			found := false
			for _, w := range words {
				if strings.HasPrefix(w, q) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	// The emulator has no tags, replicas or owning services.
	return false
}

type batchGetSecretValueInput struct {
	SecretIDList []string `json:"SecretIdList"`
	Filters      []filter `json:"Filters"`
	MaxResults   *int64   `json:"MaxResults"`
	NextToken    *string  `json:"NextToken"`
}

type batchError struct {
	SecretID  string `json:"SecretId"`
	ErrorCode string `json:"ErrorCode"`
	Message   string `json:"Message"`
}

type batchGetSecretValueOutput struct {
	SecretValues []secretValueEntry `json:"SecretValues"`
	Errors       []batchError       `json:"Errors,omitempty"`
	NextToken    string             `json:"NextToken,omitempty"`
}

func (s *Server) batchGetSecretValue(body []byte, now time.Time) (any, *apiError) {
	var in batchGetSecretValueInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	var val validation
	if in.SecretIDList != nil && (len(in.SecretIDList) < 1 || len(in.SecretIDList) > maxBatchIDs) {
		val.custom("Value at 'secretIdList' failed to satisfy constraint: Member must have length between 1 and 20, inclusive")
	}
	validateFilters(&val, in.Filters)
	val.rangeInt("maxResults", in.MaxResults, 1, 20)
	if aerr := val.err(); aerr != nil {
		return nil, aerr
	}
	switch {
	case in.SecretIDList != nil && in.Filters != nil:
		return nil, newError(codeInvalidParameter, "Either SecretIdList or Filters must be specified, but not both.")
	case in.SecretIDList == nil && in.Filters == nil:
		return nil, newError(codeInvalidParameter, "You must specify either SecretIdList or Filters.")
	case in.SecretIDList != nil && (in.MaxResults != nil || in.NextToken != nil):
		return nil, newError(codeInvalidParameter, "MaxResults and NextToken can only be used with Filters.")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	out := batchGetSecretValueOutput{SecretValues: []secretValueEntry{}}
	read := func(id string) {
		sec, v, aerr := s.readLocked("GetSecretValue", id, nil, nil, now)
		if aerr != nil {
			out.Errors = append(out.Errors, batchError{SecretID: id, ErrorCode: aerr.Code, Message: aerr.Message})
			return
		}
		out.SecretValues = append(out.SecretValues, valueEntry(sec, v))
	}
	if in.SecretIDList != nil {
		for _, id := range in.SecretIDList {
			read(id)
		}
		return out, nil
	}
	s.store.purgeExpired(now)
	var names []string
	for _, sec := range s.store.sorted() {
		if !sec.scheduledForDeletion() && matches(sec, in.Filters) {
			names = append(names, sec.name)
		}
	}
	from, to, next, aerr := page(len(names), in.NextToken, in.MaxResults, 20)
	if aerr != nil {
		return nil, aerr
	}
	for _, name := range names[from:to] {
		read(name)
	}
	out.NextToken = next
	return out, nil
}

// ---- DescribeSecret ----

type secretIDInput struct {
	SecretID *string `json:"SecretId"`
}

func (in *secretIDInput) validate() *apiError {
	var val validation
	val.required("secretId", in.SecretID != nil)
	val.length("secretId", in.SecretID, 1, maxSecretIDLen)
	return val.err()
}

type describeSecretOutput struct {
	ARN                string              `json:"ARN"`
	Name               string              `json:"Name"`
	Description        string              `json:"Description,omitempty"`
	KmsKeyID           string              `json:"KmsKeyId,omitempty"`
	RotationEnabled    bool                `json:"RotationEnabled"`
	CreatedDate        epoch               `json:"CreatedDate,omitzero"`
	LastChangedDate    epoch               `json:"LastChangedDate,omitzero"`
	LastAccessedDate   epoch               `json:"LastAccessedDate,omitzero"`
	DeletedDate        epoch               `json:"DeletedDate,omitzero"`
	VersionIDsToStages map[string][]string `json:"VersionIdsToStages,omitempty"`
}

func describe(sec *secret) describeSecretOutput {
	return describeSecretOutput{
		ARN:                sec.arn,
		Name:               sec.name,
		Description:        sec.description,
		KmsKeyID:           sec.kmsKeyID,
		CreatedDate:        epoch(sec.created),
		LastChangedDate:    epoch(sec.lastChanged),
		LastAccessedDate:   epoch(sec.lastAccessed),
		DeletedDate:        epoch(sec.deletedDate),
		VersionIDsToStages: sec.versionIDsToStages(),
	}
}

func (s *Server) describeSecret(body []byte, now time.Time) (any, *apiError) {
	var in secretIDInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	if aerr := in.validate(); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, aerr := s.resolveLocked("DescribeSecret", *in.SecretID, true, now)
	if aerr != nil {
		return nil, aerr
	}
	return describe(sec), nil
}

// ---- PutSecretValue ----

type putSecretValueInput struct {
	SecretID           *string  `json:"SecretId"`
	ClientRequestToken *string  `json:"ClientRequestToken"`
	SecretString       *string  `json:"SecretString"`
	SecretBinary       []byte   `json:"SecretBinary"`
	VersionStages      []string `json:"VersionStages"`
}

type putSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	VersionStages []string `json:"VersionStages,omitempty"`
}

func validateStages(val *validation, stages []string) {
	if len(stages) > maxStagesPerCall {
		val.custom("Value at 'versionStages' failed to satisfy constraint: Member must have length between 1 and 20, inclusive")
	}
	for i := range stages {
		val.length("versionStages."+strconv.Itoa(i+1)+".member", &stages[i], 1, maxStageLen)
	}
}

func (s *Server) putSecretValue(body []byte, now time.Time) (any, *apiError) {
	var in putSecretValueInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	var val validation
	val.required("secretId", in.SecretID != nil)
	val.length("secretId", in.SecretID, 1, maxSecretIDLen)
	val.length("clientRequestToken", in.ClientRequestToken, minTokenLen, maxTokenLen)
	checkValue(&val, in.SecretString, in.SecretBinary)
	validateStages(&val, in.VersionStages)
	if aerr := val.err(); aerr != nil {
		return nil, aerr
	}
	if in.SecretString != nil && in.SecretBinary != nil {
		return nil, errBothValues()
	}
	if in.SecretString == nil && in.SecretBinary == nil {
		return nil, newError(codeInvalidRequest, "You must provide either SecretString or SecretBinary.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, aerr := s.resolveLocked("PutSecretValue", *in.SecretID, false, now)
	if aerr != nil {
		return nil, aerr
	}
	v, aerr := s.putVersionLocked(sec, in.ClientRequestToken, in.SecretString, in.SecretBinary, in.VersionStages, now)
	if aerr != nil {
		return nil, aerr
	}
	return putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionID: v.id, VersionStages: sec.stagesOf(v.id)}, nil
}

// ---- UpdateSecret ----

type updateSecretInput struct {
	SecretID           *string `json:"SecretId"`
	ClientRequestToken *string `json:"ClientRequestToken"`
	Description        *string `json:"Description"`
	KmsKeyID           *string `json:"KmsKeyId"`
	SecretString       *string `json:"SecretString"`
	SecretBinary       []byte  `json:"SecretBinary"`
}

func (s *Server) updateSecret(body []byte, now time.Time) (any, *apiError) {
	var in updateSecretInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	var val validation
	val.required("secretId", in.SecretID != nil)
	val.length("secretId", in.SecretID, 1, maxSecretIDLen)
	val.length("clientRequestToken", in.ClientRequestToken, minTokenLen, maxTokenLen)
	val.length("description", in.Description, 0, maxDescriptionLen)
	checkValue(&val, in.SecretString, in.SecretBinary)
	if aerr := val.err(); aerr != nil {
		return nil, aerr
	}
	if in.SecretString != nil && in.SecretBinary != nil {
		return nil, errBothValues()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, aerr := s.resolveLocked("UpdateSecret", *in.SecretID, false, now)
	if aerr != nil {
		return nil, aerr
	}
	out := createSecretOutput{ARN: sec.arn, Name: sec.name}
	if in.SecretString != nil || in.SecretBinary != nil {
		v, aerr := s.putVersionLocked(sec, in.ClientRequestToken, in.SecretString, in.SecretBinary, nil, now)
		if aerr != nil {
			return nil, aerr
		}
		out.VersionID = v.id
	}
	if in.Description != nil {
		sec.description = *in.Description
	}
	if in.KmsKeyID != nil {
		sec.kmsKeyID = *in.KmsKeyID
	}
	sec.lastChanged = now
	return out, nil
}

// ---- UpdateSecretVersionStage ----

type updateSecretVersionStageInput struct {
	SecretID            *string `json:"SecretId"`
	VersionStage        *string `json:"VersionStage"`
	MoveToVersionID     *string `json:"MoveToVersionId"`
	RemoveFromVersionID *string `json:"RemoveFromVersionId"`
}

type arnNameOutput struct {
	ARN  string `json:"ARN"`
	Name string `json:"Name"`
}

func (s *Server) updateSecretVersionStage(body []byte, now time.Time) (any, *apiError) {
	var in updateSecretVersionStageInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	var val validation
	val.required("secretId", in.SecretID != nil)
	val.length("secretId", in.SecretID, 1, maxSecretIDLen)
	val.required("versionStage", in.VersionStage != nil)
	val.length("versionStage", in.VersionStage, 1, maxStageLen)
	val.length("moveToVersionId", in.MoveToVersionID, minTokenLen, maxTokenLen)
	val.length("removeFromVersionId", in.RemoveFromVersionID, minTokenLen, maxTokenLen)
	if aerr := val.err(); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, aerr := s.resolveLocked("UpdateSecretVersionStage", *in.SecretID, false, now)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := moveStage(sec, *in.VersionStage, in.MoveToVersionID, in.RemoveFromVersionID); aerr != nil {
		return nil, aerr
	}
	sec.lastChanged = now
	return arnNameOutput{ARN: sec.arn, Name: sec.name}, nil
}

// moveStage implements the label rules of UpdateSecretVersionStage.
func moveStage(sec *secret, label string, moveTo, removeFrom *string) *apiError {
	for _, id := range []*string{moveTo, removeFrom} {
		if id != nil && sec.versions[*id] == nil {
			return newError(codeResourceNotFound,
				"Secrets Manager can't find the specified secret version: %s", *id)
		}
	}
	cur, attached := sec.labels[label]
	if removeFrom != nil && (!attached || cur != *removeFrom) {
		if attached {
			return newError(codeInvalidParameter,
				"The staging label %s is currently attached to version %s, not to version %s.", label, cur, *removeFrom)
		}
		return newError(codeInvalidParameter,
			"The staging label %s is not attached to version %s.", label, *removeFrom)
	}
	switch {
	case moveTo != nil:
		if attached && cur != *moveTo && removeFrom == nil {
			return newError(codeInvalidParameter,
				"The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.",
				label, cur)
		}
		sec.attachLabel(label, *moveTo)
	case removeFrom != nil:
		if label == stageCurrent {
			return newError(codeInvalidParameter,
				"You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.")
		}
		delete(sec.labels, label)
	default:
		return newError(codeInvalidParameter, "You must specify MoveToVersionId or RemoveFromVersionId.")
	}
	return nil
}

// ---- ListSecretVersionIds ----

type listSecretVersionIDsInput struct {
	SecretID          *string `json:"SecretId"`
	IncludeDeprecated *bool   `json:"IncludeDeprecated"`
	MaxResults        *int64  `json:"MaxResults"`
	NextToken         *string `json:"NextToken"`
}

type versionListEntry struct {
	VersionID        string   `json:"VersionId"`
	VersionStages    []string `json:"VersionStages,omitempty"`
	CreatedDate      epoch    `json:"CreatedDate,omitzero"`
	LastAccessedDate epoch    `json:"LastAccessedDate,omitzero"`
}

type listSecretVersionIDsOutput struct {
	ARN       string             `json:"ARN"`
	Name      string             `json:"Name"`
	Versions  []versionListEntry `json:"Versions"`
	NextToken string             `json:"NextToken,omitempty"`
}

func (s *Server) listSecretVersionIDs(body []byte, now time.Time) (any, *apiError) {
	var in listSecretVersionIDsInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	var val validation
	val.required("secretId", in.SecretID != nil)
	val.length("secretId", in.SecretID, 1, maxSecretIDLen)
	val.rangeInt("maxResults", in.MaxResults, 1, 100)
	if aerr := val.err(); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, aerr := s.resolveLocked("ListSecretVersionIds", *in.SecretID, true, now)
	if aerr != nil {
		return nil, aerr
	}
	all := []versionListEntry{}
	for _, v := range sec.order {
		stages := sec.stagesOf(v.id)
		if len(stages) == 0 && (in.IncludeDeprecated == nil || !*in.IncludeDeprecated) {
			continue
		}
		all = append(all, versionListEntry{
			VersionID:        v.id,
			VersionStages:    stages,
			CreatedDate:      epoch(v.created),
			LastAccessedDate: epoch(v.lastAccessed),
		})
	}
	from, to, next, aerr := page(len(all), in.NextToken, in.MaxResults, 100)
	if aerr != nil {
		return nil, aerr
	}
	return listSecretVersionIDsOutput{ARN: sec.arn, Name: sec.name, Versions: all[from:to], NextToken: next}, nil
}

// ---- ListSecrets ----

type listSecretsInput struct {
	IncludePlannedDeletion *bool    `json:"IncludePlannedDeletion"`
	MaxResults             *int64   `json:"MaxResults"`
	NextToken              *string  `json:"NextToken"`
	Filters                []filter `json:"Filters"`
	SortOrder              *string  `json:"SortOrder"`
}

type secretListEntry struct {
	ARN                    string              `json:"ARN"`
	Name                   string              `json:"Name"`
	Description            string              `json:"Description,omitempty"`
	KmsKeyID               string              `json:"KmsKeyId,omitempty"`
	RotationEnabled        bool                `json:"RotationEnabled"`
	CreatedDate            epoch               `json:"CreatedDate,omitzero"`
	LastChangedDate        epoch               `json:"LastChangedDate,omitzero"`
	LastAccessedDate       epoch               `json:"LastAccessedDate,omitzero"`
	DeletedDate            epoch               `json:"DeletedDate,omitzero"`
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"`
}

type listSecretsOutput struct {
	SecretList []secretListEntry `json:"SecretList"`
	NextToken  string            `json:"NextToken,omitempty"`
}

func (s *Server) listSecrets(body []byte, now time.Time) (any, *apiError) {
	var in listSecretsInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	var val validation
	val.rangeInt("maxResults", in.MaxResults, 1, 100)
	validateFilters(&val, in.Filters)
	if in.SortOrder != nil && *in.SortOrder != "asc" && *in.SortOrder != "desc" {
		val.custom("Value '" + *in.SortOrder + "' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [asc, desc]")
	}
	if aerr := val.err(); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store.purgeExpired(now)
	secrets := s.store.sorted()
	if in.SortOrder != nil && *in.SortOrder == "desc" {
		slices.Reverse(secrets)
	}
	all := []secretListEntry{}
	for _, sec := range secrets {
		if sec.scheduledForDeletion() && (in.IncludePlannedDeletion == nil || !*in.IncludePlannedDeletion) {
			continue
		}
		if !matches(sec, in.Filters) {
			continue
		}
		d := describe(sec)
		all = append(all, secretListEntry{
			ARN:                    d.ARN,
			Name:                   d.Name,
			Description:            d.Description,
			KmsKeyID:               d.KmsKeyID,
			CreatedDate:            d.CreatedDate,
			LastChangedDate:        d.LastChangedDate,
			LastAccessedDate:       d.LastAccessedDate,
			DeletedDate:            d.DeletedDate,
			SecretVersionsToStages: d.VersionIDsToStages,
		})
	}
	from, to, next, aerr := page(len(all), in.NextToken, in.MaxResults, 100)
	if aerr != nil {
		return nil, aerr
	}
	return listSecretsOutput{SecretList: all[from:to], NextToken: next}, nil
}

// ---- DeleteSecret ----

type deleteSecretInput struct {
	SecretID                   *string `json:"SecretId"`
	RecoveryWindowInDays       *int64  `json:"RecoveryWindowInDays"`
	ForceDeleteWithoutRecovery *bool   `json:"ForceDeleteWithoutRecovery"`
}

type deleteSecretOutput struct {
	ARN          string `json:"ARN"`
	Name         string `json:"Name"`
	DeletionDate epoch  `json:"DeletionDate"`
}

func (s *Server) deleteSecret(body []byte, now time.Time) (any, *apiError) {
	var in deleteSecretInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	var val validation
	val.required("secretId", in.SecretID != nil)
	val.length("secretId", in.SecretID, 1, maxSecretIDLen)
	if aerr := val.err(); aerr != nil {
		return nil, aerr
	}
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	if force && in.RecoveryWindowInDays != nil {
		return nil, newError(codeInvalidParameter,
			"You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, newError(codeInvalidParameter,
				"The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, aerr := s.resolveLocked("DeleteSecret", *in.SecretID, true, now)
	if aerr != nil {
		return nil, aerr
	}
	if force {
		s.store.remove(sec)
		return deleteSecretOutput{ARN: sec.arn, Name: sec.name, DeletionDate: epoch(now)}, nil
	}
	if sec.scheduledForDeletion() {
		return nil, newError(codeInvalidRequest,
			"You tried to perform the operation on a secret that's currently marked deleted.")
	}
	sec.deletedDate = now
	sec.deletionDate = now.Add(time.Duration(days) * 24 * time.Hour)
	sec.lastChanged = now
	return deleteSecretOutput{ARN: sec.arn, Name: sec.name, DeletionDate: epoch(sec.deletionDate)}, nil
}

// ---- RestoreSecret ----

func (s *Server) restoreSecret(body []byte, now time.Time) (any, *apiError) {
	var in secretIDInput
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	if aerr := in.validate(); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, aerr := s.resolveLocked("RestoreSecret", *in.SecretID, true, now)
	if aerr != nil {
		return nil, aerr
	}
	if sec.scheduledForDeletion() {
		sec.deletedDate = time.Time{}
		sec.deletionDate = time.Time{}
		sec.lastChanged = now
	}
	return arnNameOutput{ARN: sec.arn, Name: sec.name}, nil
}
