package smtest

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/secretsql/secretsql/internal/rotation"
)

// opFunc runs one operation in region rg: op is its name, body the
// request's JSON.
type opFunc func(s *Server, rg *region, op string, body []byte, now time.Time) (any, *apiError)

// operations are the emulated Secrets Manager operations.
var operations = map[string]opFunc{
	"BatchGetSecretValue":          plainOp((*Server).batchGetSecretValue),
	"CancelRotateSecret":           secretOp(false, (*Server).cancelRotateSecret),
	"CreateSecret":                 plainOp((*Server).createSecret),
	"DeleteSecret":                 secretOp(true, (*Server).deleteSecret),
	"DescribeSecret":               secretOp(true, (*Server).describeSecret),
	"GetRandomPassword":            plainOp((*Server).getRandomPassword),
	"GetSecretValue":               secretOp(false, (*Server).getSecretValue),
	"ListSecretVersionIds":         secretOp(true, (*Server).listSecretVersionIDs),
	"ListSecrets":                  plainOp((*Server).listSecrets),
	"PutSecretValue":               secretOp(false, (*Server).putSecretValue),
	"RemoveRegionsFromReplication": secretOp(false, (*Server).removeRegionsFromReplication),
	"ReplicateSecretToRegions":     secretOp(false, (*Server).replicateSecretToRegions),
	"RestoreSecret":                secretOp(true, (*Server).restoreSecret),
	"RotateSecret":                 secretOp(false, (*Server).rotateSecret),
	"TagResource":                  secretOp(false, (*Server).tagResource),
	"UntagResource":                secretOp(false, (*Server).untagResource),
	"UpdateSecret":                 secretOp(false, (*Server).updateSecret),
	"UpdateSecretVersionStage":     secretOp(false, (*Server).updateSecretVersionStage),
}

// notEmulated are the real Secrets Manager operations the emulator does not
// implement; they are refused with a clearer message than unknown ones.
var notEmulated = map[string]bool{
	"DeleteResourcePolicy":     true,
	"GetResourcePolicy":        true,
	"PutResourcePolicy":        true,
	"StopReplicationToReplica": true,
	"ValidateResourcePolicy":   true,
}

// request is a decoded request body. validate adds the violated member
// constraints to val (answered as one ValidationException) and returns the
// error for parameters that are well-formed but unacceptable, which is
// answered only when no constraint is violated.
type request interface {
	validate(val *validation) *apiError
}

// secretRequest is a request about one secret.
type secretRequest interface {
	request
	secretID() string
}

// decodeRequest decodes body into a new T and validates it.
func decodeRequest[T any, P interface {
	*T
	request
}](body []byte) (P, *apiError) {
	in := P(new(T))
	if aerr := decode(body, in); aerr != nil {
		return nil, aerr
	}
	var val validation
	perr := in.validate(&val)
	if aerr := val.err(); aerr != nil {
		return nil, aerr
	}
	if perr != nil {
		return nil, perr
	}
	return in, nil
}

// plainOp makes an operation of fn, which gets the decoded and validated
// request and takes s.mu itself if it needs to.
func plainOp[T any, P interface {
	*T
	request
}](fn func(s *Server, rg *region, op string, in P, now time.Time) (any, *apiError)) opFunc {
	return func(s *Server, rg *region, op string, body []byte, now time.Time) (any, *apiError) {
		in, aerr := decodeRequest[T, P](body)
		if aerr != nil {
			return nil, aerr
		}
		return fn(s, rg, op, in, now)
	}
}

// secretOp makes an operation on one secret of fn, which runs with s.mu
// held and the request's secret resolved in its region (Deny enforced; a
// replica only reaches the operations that read it). allowDeleted decides
// whether a secret scheduled for deletion reaches fn or is refused with
// InvalidRequestException.
func secretOp[T any, P interface {
	*T
	secretRequest
}](allowDeleted bool, fn func(s *Server, in P, sec *secret, now time.Time) (any, *apiError)) opFunc {
	return plainOp(func(s *Server, rg *region, op string, in P, now time.Time) (any, *apiError) {
		s.mu.Lock()
		defer s.mu.Unlock()
		sec, aerr := s.resolveLocked(rg, op, in.secretID(), allowDeleted, now)
		if aerr == nil {
			aerr = checkReplica(op, sec)
		}
		if aerr != nil {
			return nil, aerr
		}
		defer sec.keepAccess()
		return fn(s, in, sec, now)
	})
}

// secretIDInput is the SecretId member of a request about one secret; the
// inputs of those requests embed it.
type secretIDInput struct {
	SecretID *string `json:"SecretId"`
}

func (in *secretIDInput) secretID() string { return *in.SecretID }

func (in *secretIDInput) validate(val *validation) *apiError {
	val.required("secretId", in.SecretID != nil)
	val.length("secretId", in.SecretID, 1, maxSecretIDLen)
	return nil
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
func (s *Server) resolveLocked(rg *region, op, id string, allowDeleted bool, now time.Time) (*secret, *apiError) {
	sec := rg.store.lookup(id, rg.arnPrefix, now)
	if s.isDeniedLocked(id, sec) {
		resource := rg.arnPrefix + id
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

// readLocked is the core of GetSecretValue for a SecretId: see readVersion.
func (s *Server) readLocked(rg *region, op, id string, versionID, stage *string, now time.Time) (*secret, *version, *apiError) {
	sec, aerr := s.resolveLocked(rg, op, id, false, now)
	if aerr != nil {
		return nil, nil, aerr
	}
	v, aerr := readVersion(sec, versionID, stage, now)
	sec.keepAccess()
	return sec, v, aerr
}

// readVersion picks the version of sec named by versionID and/or stage
// (default AWSCURRENT) and records the access. A version without a value
// (made by RotateSecret and not yet filled) is not found, as with AWS.
func readVersion(sec *secret, versionID, stage *string, now time.Time) (*version, *apiError) {
	var v *version
	switch {
	case versionID != nil:
		v = sec.versions[*versionID]
		if v == nil || !v.hasValue() {
			return nil, newError(codeResourceNotFound,
				"Secrets Manager can't find the specified secret value for VersionId: %s", *versionID)
		}
		if stage != nil && sec.labels[*stage] != v.id {
			return nil, newError(codeResourceNotFound,
				"Secrets Manager can't find the specified secret value for VersionId: %s and staging label: %s", *versionID, *stage)
		}
	default:
		label := rotation.StageCurrent
		if stage != nil {
			label = *stage
		}
		vid, ok := sec.labels[label]
		if !ok || !sec.versions[vid].hasValue() {
			return nil, newError(codeResourceNotFound,
				"Secrets Manager can't find the specified secret value for staging label: %s", label)
		}
		v = sec.versions[vid]
	}
	sec.lastAccessed = day(now)
	v.lastAccessed = day(now)
	return v, nil
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

// valueInput is the value of a new version, as CreateSecret, PutSecretValue
// and UpdateSecret take it.
type valueInput struct {
	ClientRequestToken *string `json:"ClientRequestToken"`
	SecretString       *string `json:"SecretString"`
	SecretBinary       []byte  `json:"SecretBinary"`
}

func (in *valueInput) hasValue() bool { return in.SecretString != nil || in.SecretBinary != nil }

// validate checks the token and value constraints, and refuses both a
// SecretString and a SecretBinary.
func (in *valueInput) validate(val *validation) *apiError {
	val.length("clientRequestToken", in.ClientRequestToken, minTokenLen, maxTokenLen)
	val.length("secretString", in.SecretString, 0, maxSecretValueLen)
	if len(in.SecretBinary) > maxSecretValueLen {
		val.custom("Value at 'secretBinary' failed to satisfy constraint: Member must have length less than or equal to 65536")
	}
	if in.SecretString != nil && in.SecretBinary != nil {
		return newError(codeInvalidParameter,
			"You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	return nil
}

// putLocked stores the value as a version of sec with stages (see
// putVersionLocked).
func (s *Server) putLocked(sec *secret, in *valueInput, stages []string, now time.Time) (*version, *apiError) {
	return s.putVersionLocked(sec, in.ClientRequestToken, in.SecretString, in.SecretBinary, stages, now)
}

// putValueLocked stores the value, if in has one, as the AWSCURRENT
// version of sec, and returns the answer of CreateSecret and UpdateSecret.
func (s *Server) putValueLocked(sec *secret, in *valueInput, now time.Time) (versionOutput, *apiError) {
	out := versionOutput{ARN: sec.arn, Name: sec.name}
	if in.hasValue() {
		v, aerr := s.putLocked(sec, in, nil, now)
		if aerr != nil {
			return out, aerr
		}
		out.VersionID = v.id
	}
	return out, nil
}

// putVersionLocked adds a version with the given value, honouring
// ClientRequestToken idempotency: the same token and value return the
// existing version unchanged, the same token with another value is
// ResourceExistsException. A token that names a version without a value
// (made by RotateSecret) gives that version its value and stages.
func (s *Server) putVersionLocked(sec *secret, token *string, str *string, bin []byte, stages []string, now time.Time) (*version, *apiError) {
	id := newUUID()
	if len(stages) == 0 {
		stages = []string{rotation.StageCurrent}
	}
	if token != nil {
		id = *token
		if old := sec.versions[id]; old != nil {
			switch {
			case !old.hasValue():
				old.str, old.bin = cloneString(str), slices.Clone(bin)
				sec.attachLabels(old.id, stages, now)
				return old, nil
			case old.sameValue(str, bin):
				return old, nil
			}
			return nil, newError(codeResourceExists,
				"You can't modify an existing version, you can only create new versions.")
		}
	}
	v := &version{id: id, str: cloneString(str), bin: slices.Clone(bin), created: now}
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

// paging is the MaxResults and NextToken of a listing request.
type paging struct {
	MaxResults *int64  `json:"MaxResults"`
	NextToken  *string `json:"NextToken"`
}

// page returns the [from, to) window and the NextToken for a listing of n
// items.
func (p *paging) page(n, defaultMax int) (from, to int, next string, aerr *apiError) {
	from, aerr = decodeToken(p.NextToken)
	if aerr != nil {
		return 0, 0, "", aerr
	}
	if from > n {
		from = n
	}
	limit := defaultMax
	if p.MaxResults != nil {
		limit = int(*p.MaxResults)
	}
	to = min(from+limit, n)
	if to < n {
		next = encodeToken(to)
	}
	return from, to, next, nil
}

// pageOf returns the page of items that p asks for, and the NextToken.
func pageOf[E any](p *paging, items []E, defaultMax int) ([]E, string, *apiError) {
	from, to, next, aerr := p.page(len(items), defaultMax)
	if aerr != nil {
		return nil, "", aerr
	}
	return items[from:to], next, nil
}

// arnNameOutput is the answer of the operations that return only the
// secret's ARN and name.
type arnNameOutput struct {
	ARN  string `json:"ARN"`
	Name string `json:"Name"`
}

// versionOutput is arnNameOutput plus a version ID.
type versionOutput struct {
	ARN       string `json:"ARN"`
	Name      string `json:"Name"`
	VersionID string `json:"VersionId,omitempty"`
}

// ---- CreateSecret ----

type createSecretInput struct {
	Name *string `json:"Name"`
	valueInput
	Description *string    `json:"Description"`
	KmsKeyID    *string    `json:"KmsKeyId"`
	Tags        []tagInput `json:"Tags"`
	replicaInput
}

func (in *createSecretInput) validate(val *validation) *apiError {
	val.required("name", in.Name != nil)
	val.length("name", in.Name, 1, maxNameLen)
	val.length("description", in.Description, 0, maxDescriptionLen)
	validateTags(val, in.Tags)
	in.replicaInput.validate(val)
	perr := in.valueInput.validate(val)
	if in.Name != nil && !validName(*in.Name) {
		return newError(codeInvalidParameter,
			"Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if perr == nil {
		perr = checkTagKeys(in.Tags)
	}
	return perr
}

// createSecretOutput is the answer of CreateSecret.
type createSecretOutput struct {
	versionOutput
	ReplicationStatus []replicationStatus `json:"ReplicationStatus,omitempty"`
}

func (s *Server) createSecret(rg *region, op string, in *createSecretInput, now time.Time) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := *in.Name
	if s.isDeniedLocked(name, nil) {
		return nil, errAccessDenied(op, rg.arnPrefix+name)
	}
	if old := rg.store.lookup(name, rg.arnPrefix, now); old != nil {
		if old.scheduledForDeletion() {
			return nil, newError(codeInvalidRequest,
				"You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		if in.ClientRequestToken != nil && old.replica == nil && old.versions[*in.ClientRequestToken] != nil {
			// A retried request: the same token and value are ignored, as
			// the API reference documents for ClientRequestToken.
			return s.putValueLocked(old, &in.valueInput, now)
		}
		return nil, newError(codeResourceExists, "The operation failed because the secret %s already exists.", name)
	}
	if aerr := s.checkReplicaRegions(rg.name, &in.replicaInput); aerr != nil {
		return nil, aerr
	}
	sec := s.newSecretLocked(rg, name, now)
	if in.Description != nil {
		sec.description = *in.Description
	}
	if in.KmsKeyID != nil {
		sec.kmsKeyID = *in.KmsKeyID
	}
	sec.setTags(in.Tags)
	out, aerr := s.putValueLocked(sec, &in.valueInput, now)
	if aerr != nil {
		return nil, aerr
	}
	rg.store.add(sec)
	s.replicateLocked(sec, &in.replicaInput, now)
	return createSecretOutput{versionOutput: out, ReplicationStatus: sec.replicationStatus()}, nil
}

// newSecretLocked makes a secret of region rg, with an ARN never issued
// there before.
func (s *Server) newSecretLocked(rg *region, name string, now time.Time) *secret {
	var arn string
	for {
		arn = rg.arnPrefix + name + "-" + arnSuffix()
		if _, taken := rg.store.arnNames[arn]; !taken {
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
		replication: replication{region: rg.name},
	}
}

// ---- GetSecretValue ----

type getSecretValueInput struct {
	secretIDInput
	VersionID    *string `json:"VersionId"`
	VersionStage *string `json:"VersionStage"`
}

func (in *getSecretValueInput) validate(val *validation) *apiError {
	in.secretIDInput.validate(val)
	val.length("versionId", in.VersionID, minTokenLen, maxTokenLen)
	val.length("versionStage", in.VersionStage, 1, maxStageLen)
	return nil
}

func (s *Server) getSecretValue(in *getSecretValueInput, sec *secret, now time.Time) (any, *apiError) {
	v, aerr := readVersion(sec, in.VersionID, in.VersionStage, now)
	if aerr != nil {
		return nil, aerr
	}
	return valueEntry(sec, v), nil
}

// ---- BatchGetSecretValue ----

type batchGetSecretValueInput struct {
	SecretIDList []string `json:"SecretIdList"`
	Filters      []filter `json:"Filters"`
	paging
}

func (in *batchGetSecretValueInput) validate(val *validation) *apiError {
	if in.SecretIDList != nil && (len(in.SecretIDList) < 1 || len(in.SecretIDList) > maxBatchIDs) {
		val.custom("Value at 'secretIdList' failed to satisfy constraint: Member must have length between 1 and 20, inclusive")
	}
	validateFilters(val, in.Filters)
	val.rangeInt("maxResults", in.MaxResults, 1, 20)
	switch {
	case in.SecretIDList != nil && in.Filters != nil:
		return newError(codeInvalidParameter, "Either SecretIdList or Filters must be specified, but not both.")
	case in.SecretIDList == nil && in.Filters == nil:
		return newError(codeInvalidParameter, "You must specify either SecretIdList or Filters.")
	case in.SecretIDList != nil && (in.MaxResults != nil || in.NextToken != nil):
		return newError(codeInvalidParameter, "MaxResults and NextToken can only be used with Filters.")
	}
	return nil
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

func (s *Server) batchGetSecretValue(rg *region, _ string, in *batchGetSecretValueInput, now time.Time) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := batchGetSecretValueOutput{SecretValues: []secretValueEntry{}}
	ids := in.SecretIDList
	if ids == nil {
		var names []string
		for _, sec := range s.listLocked(rg, in.Filters, false, now) {
			names = append(names, sec.name)
		}
		var aerr *apiError
		if ids, out.NextToken, aerr = pageOf(&in.paging, names, 20); aerr != nil {
			return nil, aerr
		}
	}
	for _, id := range ids {
		sec, v, aerr := s.readLocked(rg, "GetSecretValue", id, nil, nil, now)
		if aerr != nil {
			out.Errors = append(out.Errors, batchError{SecretID: id, ErrorCode: aerr.Code, Message: aerr.Message})
			continue
		}
		out.SecretValues = append(out.SecretValues, valueEntry(sec, v))
	}
	return out, nil
}

// listLocked returns the secrets of rg that pass filters, in creation
// order, with or without the ones scheduled for deletion.
func (s *Server) listLocked(rg *region, filters []filter, withDeleted bool, now time.Time) []*secret {
	rg.store.purgeExpired(now)
	var out []*secret
	for _, sec := range rg.store.sorted() {
		if (withDeleted || !sec.scheduledForDeletion()) && matches(sec, filters) {
			out = append(out, sec)
		}
	}
	return out
}

// ---- DescribeSecret ----

// secretMeta is what DescribeSecret and ListSecrets tell about a secret,
// but for its versions.
type secretMeta struct {
	ARN               string         `json:"ARN"`
	Name              string         `json:"Name"`
	Description       string         `json:"Description,omitempty"`
	KmsKeyID          string         `json:"KmsKeyId,omitempty"`
	RotationEnabled   *bool          `json:"RotationEnabled,omitempty"`
	RotationLambdaARN string         `json:"RotationLambdaARN,omitempty"`
	RotationRules     *rotationRules `json:"RotationRules,omitempty"`
	LastRotatedDate   epoch          `json:"LastRotatedDate,omitzero"`
	NextRotationDate  epoch          `json:"NextRotationDate,omitzero"`
	CreatedDate       epoch          `json:"CreatedDate,omitzero"`
	LastChangedDate   epoch          `json:"LastChangedDate,omitzero"`
	LastAccessedDate  epoch          `json:"LastAccessedDate,omitzero"`
	DeletedDate       epoch          `json:"DeletedDate,omitzero"`
	Tags              []tag          `json:"Tags,omitempty"`
	PrimaryRegion     string         `json:"PrimaryRegion,omitempty"`
}

type describeSecretOutput struct {
	secretMeta
	VersionIDsToStages map[string][]string `json:"VersionIdsToStages,omitempty"`
	ReplicationStatus  []replicationStatus `json:"ReplicationStatus,omitempty"`
}

func (sec *secret) meta() secretMeta {
	m := secretMeta{
		ARN:              sec.arn,
		Name:             sec.name,
		Description:      sec.description,
		KmsKeyID:         sec.kmsKeyID,
		CreatedDate:      epoch(sec.created),
		LastChangedDate:  epoch(sec.lastChanged),
		LastAccessedDate: epoch(sec.lastAccessed),
		DeletedDate:      epoch(sec.deletedDate),
		Tags:             slices.Clone(sec.tags),
		PrimaryRegion:    sec.primaryRegion(),
	}
	sec.rotation.describe(&m)
	return m
}

func (s *Server) describeSecret(_ *secretIDInput, sec *secret, _ time.Time) (any, *apiError) {
	return describeSecretOutput{secretMeta: sec.meta(), VersionIDsToStages: sec.versionIDsToStages(),
		ReplicationStatus: sec.replicationStatus()}, nil
}

// ---- PutSecretValue ----

type putSecretValueInput struct {
	secretIDInput
	valueInput
	VersionStages []string `json:"VersionStages"`
}

func (in *putSecretValueInput) validate(val *validation) *apiError {
	in.secretIDInput.validate(val)
	perr := in.valueInput.validate(val)
	if len(in.VersionStages) > maxStagesPerCall {
		val.custom("Value at 'versionStages' failed to satisfy constraint: Member must have length between 1 and 20, inclusive")
	}
	for i := range in.VersionStages {
		val.length("versionStages."+strconv.Itoa(i+1)+".member", &in.VersionStages[i], 1, maxStageLen)
	}
	if perr == nil && !in.hasValue() {
		perr = newError(codeInvalidRequest, "You must provide either SecretString or SecretBinary.")
	}
	return perr
}

type putSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	VersionStages []string `json:"VersionStages,omitempty"`
}

func (s *Server) putSecretValue(in *putSecretValueInput, sec *secret, now time.Time) (any, *apiError) {
	v, aerr := s.putLocked(sec, &in.valueInput, in.VersionStages, now)
	if aerr != nil {
		return nil, aerr
	}
	return putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionID: v.id, VersionStages: sec.stagesOf(v.id)}, nil
}

// ---- UpdateSecret ----

type updateSecretInput struct {
	secretIDInput
	valueInput
	Description *string `json:"Description"`
	KmsKeyID    *string `json:"KmsKeyId"`
}

func (in *updateSecretInput) validate(val *validation) *apiError {
	in.secretIDInput.validate(val)
	val.length("description", in.Description, 0, maxDescriptionLen)
	return in.valueInput.validate(val)
}

func (s *Server) updateSecret(in *updateSecretInput, sec *secret, now time.Time) (any, *apiError) {
	out, aerr := s.putValueLocked(sec, &in.valueInput, now)
	if aerr != nil {
		return nil, aerr
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
	secretIDInput
	VersionStage        *string `json:"VersionStage"`
	MoveToVersionID     *string `json:"MoveToVersionId"`
	RemoveFromVersionID *string `json:"RemoveFromVersionId"`
}

func (in *updateSecretVersionStageInput) validate(val *validation) *apiError {
	in.secretIDInput.validate(val)
	val.required("versionStage", in.VersionStage != nil)
	val.length("versionStage", in.VersionStage, 1, maxStageLen)
	val.length("moveToVersionId", in.MoveToVersionID, minTokenLen, maxTokenLen)
	val.length("removeFromVersionId", in.RemoveFromVersionID, minTokenLen, maxTokenLen)
	return nil
}

func (s *Server) updateSecretVersionStage(in *updateSecretVersionStageInput, sec *secret, now time.Time) (any, *apiError) {
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
		if label == rotation.StageCurrent {
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
	secretIDInput
	IncludeDeprecated *bool `json:"IncludeDeprecated"`
	paging
}

func (in *listSecretVersionIDsInput) validate(val *validation) *apiError {
	in.secretIDInput.validate(val)
	val.rangeInt("maxResults", in.MaxResults, 1, 100)
	return nil
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

func (s *Server) listSecretVersionIDs(in *listSecretVersionIDsInput, sec *secret, _ time.Time) (any, *apiError) {
	all := []versionListEntry{}
	for _, v := range sec.order {
		stages := sec.stagesOf(v.id)
		if len(stages) == 0 && !aws.ToBool(in.IncludeDeprecated) {
			continue
		}
		all = append(all, versionListEntry{
			VersionID:        v.id,
			VersionStages:    stages,
			CreatedDate:      epoch(v.created),
			LastAccessedDate: epoch(v.lastAccessed),
		})
	}
	versions, next, aerr := pageOf(&in.paging, all, 100)
	if aerr != nil {
		return nil, aerr
	}
	return listSecretVersionIDsOutput{ARN: sec.arn, Name: sec.name, Versions: versions, NextToken: next}, nil
}

// ---- ListSecrets ----

type listSecretsInput struct {
	IncludePlannedDeletion *bool    `json:"IncludePlannedDeletion"`
	Filters                []filter `json:"Filters"`
	SortOrder              *string  `json:"SortOrder"`
	paging
}

func (in *listSecretsInput) validate(val *validation) *apiError {
	val.rangeInt("maxResults", in.MaxResults, 1, 100)
	validateFilters(val, in.Filters)
	if in.SortOrder != nil && *in.SortOrder != "asc" && *in.SortOrder != "desc" {
		val.custom("Value '" + *in.SortOrder + "' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [asc, desc]")
	}
	return nil
}

type secretListEntry struct {
	secretMeta
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"`
}

type listSecretsOutput struct {
	SecretList []secretListEntry `json:"SecretList"`
	NextToken  string            `json:"NextToken,omitempty"`
}

func (s *Server) listSecrets(rg *region, _ string, in *listSecretsInput, now time.Time) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	secrets := s.listLocked(rg, in.Filters, aws.ToBool(in.IncludePlannedDeletion), now)
	if aws.ToString(in.SortOrder) == "desc" {
		slices.Reverse(secrets)
	}
	all := []secretListEntry{}
	for _, sec := range secrets {
		all = append(all, secretListEntry{secretMeta: sec.meta(), SecretVersionsToStages: sec.versionIDsToStages()})
	}
	list, next, aerr := pageOf(&in.paging, all, 100)
	if aerr != nil {
		return nil, aerr
	}
	return listSecretsOutput{SecretList: list, NextToken: next}, nil
}

// ---- DeleteSecret ----

type deleteSecretInput struct {
	secretIDInput
	RecoveryWindowInDays       *int64 `json:"RecoveryWindowInDays"`
	ForceDeleteWithoutRecovery *bool  `json:"ForceDeleteWithoutRecovery"`
}

func (in *deleteSecretInput) force() bool {
	return aws.ToBool(in.ForceDeleteWithoutRecovery)
}

func (in *deleteSecretInput) validate(val *validation) *apiError {
	in.secretIDInput.validate(val)
	switch w := in.RecoveryWindowInDays; {
	case in.force() && w != nil:
		return newError(codeInvalidParameter,
			"You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	case w != nil && (*w < 7 || *w > 30):
		return newError(codeInvalidParameter,
			"The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
	}
	return nil
}

type deleteSecretOutput struct {
	ARN          string `json:"ARN"`
	Name         string `json:"Name"`
	DeletionDate epoch  `json:"DeletionDate"`
}

func (s *Server) deleteSecret(in *deleteSecretInput, sec *secret, now time.Time) (any, *apiError) {
	if len(sec.replicas) > 0 {
		return nil, errHasReplicas(*in.SecretID, sec)
	}
	if in.force() {
		s.removeLocked(s.regions.get(sec.region), sec)
		return deleteSecretOutput{ARN: sec.arn, Name: sec.name, DeletionDate: epoch(now)}, nil
	}
	if sec.scheduledForDeletion() {
		return nil, newError(codeInvalidRequest,
			"You tried to perform the operation on a secret that's currently marked deleted.")
	}
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
	}
	sec.deletedDate = now
	sec.deletionDate = now.Add(time.Duration(days) * 24 * time.Hour)
	sec.lastChanged = now
	return deleteSecretOutput{ARN: sec.arn, Name: sec.name, DeletionDate: epoch(sec.deletionDate)}, nil
}

// ---- RestoreSecret ----

func (s *Server) restoreSecret(_ *secretIDInput, sec *secret, now time.Time) (any, *apiError) {
	if sec.scheduledForDeletion() {
		sec.deletedDate = time.Time{}
		sec.deletionDate = time.Time{}
		sec.lastChanged = now
	}
	return arnNameOutput{ARN: sec.arn, Name: sec.name}, nil
}
