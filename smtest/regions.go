package smtest

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// WithRegions makes the server serve these regions too, besides its primary
// region (WithRegion). All regions share the server's URL: each request is
// routed to the region of its signature's credential scope, which is what
// a client configured for another region but the same endpoint sends.
// Requests signed for a region the server does not serve are refused with
// InvalidSignatureException. Region names must look like AWS's
// ("eu-west-1"); Start fails otherwise, with ErrInvalidRegion.
func WithRegions(regions ...string) Option {
	return func(o *options) { o.regions = append(o.regions, regions...) }
}

// regionPattern is the pattern of a region code in the API reference.
var regionPattern = regexp.MustCompile(`^([a-z]+-)+\d+$`)

// ErrInvalidRegion is what Start's error wraps when a region name given to
// WithRegion or WithRegions does not look like AWS's ("eu-west-1").
var ErrInvalidRegion = errors.New("smtest: invalid region")

// region is one region the server serves: its own secrets, replicas
// included, in its own store.
type region struct {
	name      string
	arnPrefix string
	store     *store // guarded by Server.mu
}

// regionSet is the regions of a server and their outages. The set itself
// never changes after Start.
type regionSet struct {
	primary *region
	byName  map[string]*region
	order   []string // primary first, then as given to WithRegions

	mu      sync.Mutex // guards outages
	outages map[string]bool
}

// newRegionSet makes the regions of a server: primary, then extra.
func newRegionSet(primary, accountID string, extra []string) (*regionSet, error) {
	rs := &regionSet{byName: map[string]*region{}, outages: map[string]bool{}}
	for i, name := range append([]string{primary}, extra...) {
		if !regionPattern.MatchString(name) {
			return nil, fmt.Errorf("%w %q", ErrInvalidRegion, name)
		}
		if rs.byName[name] != nil {
			continue
		}
		rg := &region{name: name, arnPrefix: arnPrefixFor(name, accountID), store: newStore()}
		if i == 0 {
			rs.primary = rg
		}
		rs.byName[name] = rg
		rs.order = append(rs.order, name)
	}
	return rs, nil
}

func arnPrefixFor(region, accountID string) string {
	return "arn:" + partition(region) + ":secretsmanager:" + region + ":" + accountID + ":secret:"
}

// get returns the region named name, nil if the server does not serve it.
func (rs *regionSet) get(name string) *region { return rs.byName[name] }

// orPrimary returns the region named name, or the primary region if the
// server does not serve it.
func (rs *regionSet) orPrimary(name string) *region {
	if rg := rs.byName[name]; rg != nil {
		return rg
	}
	return rs.primary
}

func (rs *regionSet) down(name string) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.outages[name]
}

// Regions returns the regions the server serves: its primary region
// (Region) first, then those of WithRegions.
func (s *Server) Regions() []string { return slices.Clone(s.regions.order) }

// ClientFor is like Client, for a client configured for region: the
// server answers it from that region (see WithRegions). The region need not
// be served, to test how the server refuses it.
func (s *Server) ClientFor(region string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:           region,
		Credentials:      s.credentials(),
		BaseEndpoint:     aws.String(s.URL),
		RetryMaxAttempts: 1,
		HTTPClient:       s.httpClient,
	})
}

// ConfigFor is like Config, for a client configured for region (see
// ClientFor).
func (s *Server) ConfigFor(region string) aws.Config {
	return aws.Config{
		Region:           region,
		Credentials:      s.credentials(),
		BaseEndpoint:     aws.String(s.URL),
		RetryMaxAttempts: 1,
		HTTPClient:       s.httpClient,
	}
}

// RegionOutage makes the regional endpoint of region unreachable while the
// other regions keep answering: every request signed for region is read,
// counted (ErrorCode "RegionOutage" in Log) and then dropped, its
// connection closed without an answer, so that the SDK fails with a
// network error that carries no API error code (not a smithy.APIError), as
// when an endpoint cannot be reached. RegionRestore ends it. Outage, by
// contrast, stops the whole server.
func (s *Server) RegionOutage(region string) {
	s.regions.mu.Lock()
	defer s.regions.mu.Unlock()
	s.regions.outages[region] = true
	s.logger.Info("smtest: region outage", "region", region)
}

// RegionRestore ends a RegionOutage of region.
func (s *Server) RegionRestore(region string) {
	s.regions.mu.Lock()
	defer s.regions.mu.Unlock()
	if s.regions.outages[region] {
		delete(s.regions.outages, region)
		s.logger.Info("smtest: region restored", "region", region)
	}
}

// codeRegionOutage is only ever written to the call log: the request was
// dropped by RegionOutage.
const codeRegionOutage = "RegionOutage"

// dropInOutage ends the request without an answer, closing its connection,
// if it was signed for a region in a RegionOutage. It reports whether it
// did.
func (s *Server) dropInOutage(w http.ResponseWriter, c *Call) bool {
	if c.Region == "" || !s.regions.down(c.Region) {
		return false
	}
	s.finish(c, codeRegionOutage)
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return true
		}
	}
	panic(http.ErrAbortHandler) // closes the connection without an answer too
}

// FailNextIn is like FailNext for the requests signed for region only.
// FailNextIn with n <= 0 cancels the pending failures of op in region.
func (s *Server) FailNextIn(region, op string, n int, code string) {
	s.failNext(region, op, n, code)
}

// CallsIn is like Calls, counting only the requests signed for region
// (Call.Region).
func (s *Server) CallsIn(region, op string) int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	n := 0
	for _, c := range s.log {
		if c.Region == region && (op == "" || c.Operation == op) {
			n++
		}
	}
	return n
}

// claimedRegion is the region of a request's credential scope, "" if its
// Authorization header cannot be parsed. It is not verified.
func claimedRegion(r *http.Request) string {
	if auth, aerr := parseAuthorization(r.Header.Get("Authorization")); aerr == nil {
		return auth.region
	}
	return ""
}

// inRegions returns the first of find's answers over the served regions,
// primary first, that is not the zero value.
func inRegions[T comparable](rs *regionSet, find func(*region) T) T {
	var zero T
	for _, name := range rs.order {
		if v := find(rs.byName[name]); v != zero {
			return v
		}
	}
	return zero
}

// nameOfLocked is store.nameOf over every region: the secret name that id
// (a name, or a full or partial ARN in any served region) refers to.
func (s *Server) nameOfLocked(id string) string {
	return inRegions(s.regions, func(rg *region) string { return rg.store.nameOf(id, rg.arnPrefix) })
}

// lookupLocked is store.lookup over every region, primary first: the
// secret that id (a name, or a full or partial ARN in any served region)
// refers to, nil if none.
func (s *Server) lookupLocked(id string, now time.Time) *secret {
	return inRegions(s.regions, func(rg *region) *secret { return rg.store.lookup(id, rg.arnPrefix, now) })
}

// ---- Replicas ----

// Replication statuses and their messages.
const (
	replicaInSync          = "InSync"
	replicaFailed          = "Failed"
	msgReplicaSucceeded    = "Replication succeeded"
	msgReplicaNotPermitted = "Operation not permitted on a replica secret. Call must be made in primary secret's region."
	defaultReplicaKMSKey   = "alias/aws/secretsmanager"
)

// replication is what a secret knows of replication. A primary lists its
// replicas; a replica is a record in its region's store (replica set) that
// lookups turn into a view of its primary (see resolved).
type replication struct {
	region   string         // the region of the secret; for a replica view, of its primary
	replica  *replicaInfo   // set on a replica record and on its views
	replicas []*replicaInfo // a primary's replicas, in the order they were added
}

// replicaInfo is one replica of a primary secret.
type replicaInfo struct {
	region       string
	kmsKeyID     string
	status       string
	message      string
	lastAccessed time.Time
	primary      *secret
	record       *secret // in the replica region's store; nil when replication failed
}

// resolved returns the secret a store entry stands for: the entry itself,
// or for a replica record a view of its primary: a shallow copy that
// shares the primary's versions and staging labels and has the replica's
// ARN, KMS key and LastAccessedDate.
func (sec *secret) resolved() *secret {
	if sec == nil || sec.replica == nil {
		return sec
	}
	ri := sec.replica
	v := *ri.primary
	v.seq = sec.seq
	v.arn = sec.arn
	v.kmsKeyID = ri.kmsKeyID
	v.lastAccessed = ri.lastAccessed
	v.replica = ri
	v.replicas = nil
	return &v
}

// primaryRegion is the PrimaryRegion that DescribeSecret and ListSecrets
// show: the primary's region, for replicated secrets only.
func (sec *secret) primaryRegion() string {
	if sec.replica != nil || len(sec.replicas) > 0 {
		return sec.region
	}
	return ""
}

// readOnReplica are the operations a replica answers; every other
// operation on a replica is refused.
var readOnReplica = map[string]bool{
	"GetSecretValue":       true,
	"DescribeSecret":       true,
	"ListSecretVersionIds": true,
}

// checkReplica refuses op on sec if sec is a replica and op would change
// it, with the error AWS gives.
func checkReplica(op string, sec *secret) *apiError {
	if sec.replica != nil && !readOnReplica[op] {
		return newError(codeInvalidParameter, msgReplicaNotPermitted)
	}
	return nil
}

// keepAccess carries a read of a replica view back to the replica.
func (sec *secret) keepAccess() {
	if sec.replica != nil {
		sec.replica.lastAccessed = sec.lastAccessed
	}
}

// replicationStatus is ReplicationStatusType.
type replicationStatus struct {
	Region           string `json:"Region"`
	KmsKeyID         string `json:"KmsKeyId,omitempty"`
	Status           string `json:"Status"`
	StatusMessage    string `json:"StatusMessage,omitempty"`
	LastAccessedDate epoch  `json:"LastAccessedDate,omitzero"`
}

// replicationStatus lists the replicas of a primary, nil for other secrets.
func (sec *secret) replicationStatus() []replicationStatus {
	if sec.replica != nil {
		return nil
	}
	var out []replicationStatus
	for _, ri := range sec.replicas {
		key := ri.kmsKeyID
		if key == "" {
			key = defaultReplicaKMSKey
		}
		out = append(out, replicationStatus{
			Region:           ri.region,
			KmsKeyID:         key,
			Status:           ri.status,
			StatusMessage:    ri.message,
			LastAccessedDate: epoch(ri.lastAccessed),
		})
	}
	return out
}

// replicaRegionInput is ReplicaRegionType.
type replicaRegionInput struct {
	Region   *string `json:"Region"`
	KmsKeyID *string `json:"KmsKeyId"`
}

// replicaInput is the replication members of CreateSecret and
// ReplicateSecretToRegions.
type replicaInput struct {
	AddReplicaRegions           []replicaRegionInput `json:"AddReplicaRegions"`
	ForceOverwriteReplicaSecret *bool                `json:"ForceOverwriteReplicaSecret"`
}

func (in *replicaInput) validate(val *validation) {
	if in.AddReplicaRegions != nil && len(in.AddReplicaRegions) == 0 {
		val.custom("Value at 'addReplicaRegions' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	for i, r := range in.AddReplicaRegions {
		member := fmt.Sprintf("addReplicaRegions.%d.member.", i+1)
		validateRegion(val, member+"region", r.Region)
		val.length(member+"kmsKeyId", r.KmsKeyID, 0, 2048)
	}
}

func validateRegion(val *validation, member string, r *string) {
	val.length(member, r, 1, 128)
	if r != nil && !regionPattern.MatchString(*r) {
		val.custom(fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-)+\\d+$", *r, member))
	}
}

// checkReplicaRegions checks the regions to replicate a secret of region
// primary to: none may be primary itself or a region the server does not
// serve.
func (s *Server) checkReplicaRegions(primary string, in *replicaInput) *apiError {
	for _, r := range in.AddReplicaRegions {
		name := aws.ToString(r.Region)
		switch {
		case name == "":
			return required("addReplicaRegions.member.region")
		case name == primary:
			return newError(codeInvalidParameter, "Invalid replica region.")
		case s.regions.get(name) == nil:
			return newError(codeInvalidParameter,
				"smtest serves no region %s: serve it with WithRegions (secretsql emulator --regions) to replicate to it.", name)
		}
	}
	return nil
}

// replicateLocked replicates primary to the regions of in, which
// checkReplicaRegions accepted. A region that already holds a replica of
// primary is left as it is. A region holding another secret of the same
// name gets a Failed replica, unless ForceOverwriteReplicaSecret, which
// removes that secret (but never a primary that has replicas itself).
func (s *Server) replicateLocked(primary *secret, in *replicaInput, now time.Time) {
	force := aws.ToBool(in.ForceOverwriteReplicaSecret)
	for _, r := range in.AddReplicaRegions {
		rg := s.regions.get(*r.Region)
		if i := slices.IndexFunc(primary.replicas, func(ri *replicaInfo) bool { return ri.region == rg.name }); i >= 0 {
			if primary.replicas[i].status == replicaInSync {
				continue
			}
			primary.replicas = slices.Delete(primary.replicas, i, i+1) // a failed replication, tried again
		}
		ri := &replicaInfo{region: rg.name, kmsKeyID: aws.ToString(r.KmsKeyID), primary: primary,
			status: replicaInSync, message: msgReplicaSucceeded}
		if old := rg.store.lookup(primary.name, rg.arnPrefix, now); old != nil {
			if !force || len(old.replicas) > 0 {
				ri.status = replicaFailed
				ri.message = fmt.Sprintf("Replication failed: Secret name %s already exists in region %s.", primary.name, rg.name)
			} else {
				s.removeLocked(rg, old)
			}
		}
		if ri.status == replicaInSync {
			ri.record = &secret{
				name:        primary.name,
				arn:         rg.arnPrefix + strings.TrimPrefix(primary.arn, s.regions.get(primary.region).arnPrefix),
				replication: replication{region: rg.name, replica: ri},
			}
			rg.store.add(ri.record)
		}
		primary.replicas = append(primary.replicas, ri)
	}
	if len(in.AddReplicaRegions) > 0 {
		primary.lastChanged = now
	}
}

// removeLocked removes sec (as lookup returned it) from rg for good: a
// replica is detached from its primary, a rotation in progress stopped.
func (s *Server) removeLocked(rg *region, sec *secret) {
	if ri := sec.replica; ri != nil {
		s.removeReplicaLocked(ri)
		return
	}
	if sec.rotation.running() {
		sec.rotation.run.cancel()
	}
	rg.store.remove(sec)
}

// removeReplicaLocked detaches the replica ri from its primary and removes
// its record, if replication made one, from its region.
func (s *Server) removeReplicaLocked(ri *replicaInfo) {
	if ri.record != nil {
		s.regions.get(ri.region).store.remove(ri.record)
	}
	ri.primary.replicas = slices.DeleteFunc(ri.primary.replicas, func(x *replicaInfo) bool { return x == ri })
}

// ---- ReplicateSecretToRegions ----

type replicateInput struct {
	secretIDInput
	replicaInput
}

func (in *replicateInput) validate(val *validation) *apiError {
	in.secretIDInput.validate(val)
	val.required("addReplicaRegions", in.AddReplicaRegions != nil)
	in.replicaInput.validate(val)
	return nil
}

type replicationOutput struct {
	ARN               string              `json:"ARN"`
	ReplicationStatus []replicationStatus `json:"ReplicationStatus"`
}

func (sec *secret) replicationOutput() replicationOutput {
	out := replicationOutput{ARN: sec.arn, ReplicationStatus: sec.replicationStatus()}
	if out.ReplicationStatus == nil {
		out.ReplicationStatus = []replicationStatus{}
	}
	return out
}

func (s *Server) replicateSecretToRegions(in *replicateInput, sec *secret, now time.Time) (any, *apiError) {
	if aerr := s.checkReplicaRegions(sec.region, &in.replicaInput); aerr != nil {
		return nil, aerr
	}
	s.replicateLocked(sec, &in.replicaInput, now)
	return sec.replicationOutput(), nil
}

// ---- RemoveRegionsFromReplication ----

type removeRegionsInput struct {
	secretIDInput
	RemoveReplicaRegions []string `json:"RemoveReplicaRegions"`
}

func (in *removeRegionsInput) validate(val *validation) *apiError {
	in.secretIDInput.validate(val)
	val.required("removeReplicaRegions", in.RemoveReplicaRegions != nil)
	if in.RemoveReplicaRegions != nil && len(in.RemoveReplicaRegions) == 0 {
		val.custom("Value at 'removeReplicaRegions' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	for i := range in.RemoveReplicaRegions {
		validateRegion(val, fmt.Sprintf("removeReplicaRegions.%d.member", i+1), &in.RemoveReplicaRegions[i])
	}
	return nil
}

// removeRegionsFromReplication deletes the replicas in the given regions;
// regions without a replica are ignored.
func (s *Server) removeRegionsFromReplication(in *removeRegionsInput, sec *secret, now time.Time) (any, *apiError) {
	for _, ri := range slices.Clone(sec.replicas) {
		if slices.Contains(in.RemoveReplicaRegions, ri.region) {
			s.removeReplicaLocked(ri)
			sec.lastChanged = now
		}
	}
	return sec.replicationOutput(), nil
}

// errHasReplicas is DeleteSecret's answer for a primary with replicas.
func errHasReplicas(id string, sec *secret) *apiError {
	regions := make([]string, len(sec.replicas))
	for i, ri := range sec.replicas {
		regions[i] = ri.region
	}
	return newError(codeInvalidParameter, "You can't delete secret %s that still has replica regions [%s].", id, strings.Join(regions, ", "))
}
