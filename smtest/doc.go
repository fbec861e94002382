// Package smtest is a wire-compatible AWS Secrets Manager emulator for tests,
// in the spirit of net/http/httptest.
//
// NewServer starts an HTTP server on 127.0.0.1 that speaks the AWS JSON 1.1
// protocol of Secrets Manager (POST /, X-Amz-Target:
// secretsmanager.<Operation>, PascalCase JSON, epoch-second timestamps,
// base64 SecretBinary, errors as {"__type","Message"} plus the
// X-Amzn-ErrorType header), so the real aws-sdk-go-v2 secretsmanager client
// talks to it unchanged and returns its typed errors
// (*types.ResourceNotFoundException and so on):
//
//	srv := smtest.NewServer()
//	defer srv.Close()
//	srv.CreateSecret("prod/db", `{"username":"app","password":"pw"}`)
//	client := srv.Client() // or secretsmanager.NewFromConfig(srv.Config())
//
// Client and Config use RetryMaxAttempts 1, so the SDK never retries and
// every injected failure reaches the caller.
//
// # Authentication
//
// Every request must carry a valid AWS Signature Version 4 (Authorization
// header) made with the server's access key (WithCredentials), for one of
// its regions (WithRegion, WithRegions) and the service "secretsmanager". The server
// recomputes the signature with the SDK's own signer over the signed
// headers and the SHA-256 of the body it received and compares in constant
// time. Failures are refused as AWS refuses them, with HTTP 400:
// MissingAuthenticationTokenException (no Authorization header),
// IncompleteSignatureException (malformed header or missing X-Amz-Date),
// UnrecognizedClientException (unknown access key) and
// InvalidSignatureException (wrong signature, wrong credential scope, or an
// X-Amz-Date more than 15 minutes away from the server's clock). Session
// tokens (X-Amz-Security-Token) are signed over but not checked; presigned
// (query string) requests, the Date header in place of X-Amz-Date and
// streaming (chunked) payload signatures are not supported. Host and
// X-Amz-Target must be among the signed headers (InvalidSignatureException
// otherwise), so that a signature seen once cannot be replayed as another
// operation.
//
// NewServer keeps test-friendly defaults: the published keys
// DefaultAccessKeyID and DefaultSecretAccessKey, and any Host header. A
// server reachable by other programs should use its own keys
// (WithCredentials) and WithHostCheck, which refuses requests whose Host
// header is neither the listen address nor a loopback name (HTTP 421,
// HostNotAllowedException), so that a web page cannot reach the server by
// DNS rebinding. `secretsql emulator` does both.
//
// Connections are bounded, for the server and the agent alike: a request's
// header must arrive within 10 s (64 KiB at most) and its body within 10 s
// more (1 MiB at most: a longer one is answered SerializationException and
// its connection closed; a late one 408 Request Timeout), and a keep-alive
// connection idle for 30 s is closed (the clients of Client and Config
// close theirs after 15 s).
//
// # Operations
//
// These operations follow the semantics of the Secrets Manager API
// reference, including its validation and error codes:
//
//   - CreateSecret: Name, SecretString or SecretBinary (not both; neither
//     creates a secret without versions), ClientRequestToken as the VersionId,
//     Description, KmsKeyId (stored, echoed by DescribeSecret, otherwise
//     ignored), Tags, AddReplicaRegions and ForceOverwriteReplicaSecret
//     (see Regions and replicas). ARNs are
//     arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX.
//     An existing name is ResourceExistsException, unless the request
//     repeats the ClientRequestToken and value of one of its versions (a
//     retry, answered as the first time); a name scheduled for deletion is
//     InvalidRequestException, as with AWS.
//   - GetSecretValue: by name, full ARN or partial ARN (the ARN without the
//     "-XXXXXX" suffix); VersionId and/or VersionStage (default AWSCURRENT;
//     when both are given they must name the same version).
//   - BatchGetSecretValue: SecretIdList (per-secret failures, including
//     AccessDeniedException, are reported in Errors) or Filters with
//     MaxResults and NextToken.
//   - DescribeSecret, ListSecretVersionIds (IncludeDeprecated, paging),
//     ListSecrets (IncludePlannedDeletion; SortOrder by creation time,
//     ascending by default; paging). DescribeSecret and ListSecrets show
//     Tags and the rotation fields below.
//   - Filters of ListSecrets and BatchGetSecretValue: name, tag-key and
//     tag-value (prefix, case-sensitive), description (prefix, any case),
//     all (every word a prefix of a word of the name, description, tag keys
//     or tag values, any case), "!" negation; values of one filter are ORed,
//     filters ANDed. primary-region matches replicated secrets (primaries
//     and replicas) by the region of their primary; owning-service matches
//     no secret (no managed secrets).
//   - PutSecretValue (ClientRequestToken idempotency, VersionStages) and
//     UpdateSecret (Description, KmsKeyId, and a new AWSCURRENT version).
//   - UpdateSecretVersionStage (MoveToVersionId, RemoveFromVersionId).
//   - DeleteSecret (RecoveryWindowInDays 7 to 30, default 30, or
//     ForceDeleteWithoutRecovery) and RestoreSecret.
//   - TagResource and UntagResource: at most 50 tags (LimitExceededException),
//     keys of 1 to 128 characters and values of at most 256; keys starting
//     with "aws:" are reserved (InvalidParameterException).
//   - GetRandomPassword: every parameter, with AWS's defaults: 32
//     characters from lowercase and uppercase letters, digits and the
//     punctuation !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ (IncludeSpace adds the
//     space), ExcludeCharacters and the Exclude* switches, and
//     RequireEachIncludedType (default true: at least one character of each
//     class left). PasswordLength is 1 to 4096; a length shorter than the
//     required classes, or nothing left to draw from, is
//     InvalidParameterException. Characters come from crypto/rand.
//   - RotateSecret and CancelRotateSecret: see Rotation below.
//   - ReplicateSecretToRegions and RemoveRegionsFromReplication: see Regions
//     and replicas below.
//
// The resource policy operations (GetResourcePolicy, PutResourcePolicy,
// DeleteResourcePolicy, ValidateResourcePolicy), StopReplicationToReplica
// and unknown operations answer UnknownOperationException. Malformed JSON is SerializationException;
// missing required members and violated length, range or pattern
// constraints are ValidationException; parameters that are well-formed but
// unacceptable are InvalidParameterException.
//
// # Rotation
//
// RotateSecret rotates database secrets for real, against the database
// their SecretString points at, for the engines with a local server here:
// postgres, postgresql, aurora-postgresql, redshift and redshift-serverless
// (spoken to as PostgreSQL), mysql, aurora-mysql, aurora and mariadb. It
// runs the four steps of internal/rotation (createSecret, setSecret,
// testSecret, finishSecret) in the background, through this server's own
// API, as AWS's rotation Lambda templates do:
//
//   - single user, when the secret has no "masterarn": the secret's user,
//     logged in with AWSCURRENT's password (or AWSPREVIOUS's), changes its
//     own password;
//   - alternating users, when it has one: the user of the masterarn secret
//     creates "<username>_clone" with the privileges of the user (on
//     PostgreSQL, GRANT user TO clone; on MySQL and MariaDB, the user's
//     grants), or changes its password; the next rotation goes back to
//     "<username>". As in AWS's templates, the admin logs in where the
//     admin secret points (its own port and dbname), which must name the
//     same host as the secret, and an engine of the same family.
//
// A rotation connects only to databases at loopback addresses (checked on
// the address dialed, after name resolution) unless WithRotationNetworks
// allows more: a secret naming another address fails its rotation at
// setSecret with a *sqldb.AddrError, and nothing is sent there.
//
// No rotation function is needed: RotationLambdaARN is accepted, shown by
// DescribeSecret and never invoked. As with AWS:
//
//   - RotateSecret answers at once with the VersionId of the rotation, the
//     ClientRequestToken (a new UUID without one), and creates that version
//     empty, staged AWSPENDING, for createSecret to fill. The same request
//     again answers the same VersionId.
//   - While AWSPENDING is on a version that is not AWSCURRENT (a rotation in
//     progress, or one that failed), RotateSecret answers
//     InvalidRequestException "A previous rotation isn't complete. That
//     rotation will be reattempted." and reattempts it with that version.
//   - RotateImmediately false configures the schedule without rotating;
//     the check AWS makes by running testSecret is a check that the secret
//     is a database secret the emulator can rotate. A secret it cannot
//     rotate (not JSON, no engine with a local server, no host, username
//     or password, a masterarn that is not a string, no AWSCURRENT) is
//     InvalidRequestException at once.
//   - RotationRules: AutomaticallyAfterDays (1 to 1000) or
//     ScheduleExpression rate(N hours) (N at least 4) or rate(N days) (N up
//     to 1000), not both (InvalidParameterException), and Duration (1h to
//     24h, stored). cron() expressions are not supported:
//     ValidationException.
//   - DescribeSecret and ListSecrets show RotationEnabled (absent until
//     RotateSecret was first called), RotationRules (a rate in whole days
//     also as AutomaticallyAfterDays), LastRotatedDate and NextRotationDate
//     (absent while rotation is off). Rotations run on the schedule: the
//     server looks for those that are due once a second (more often with
//     WithRotateEvery).
//   - CancelRotateSecret turns rotation off, stops a rotation in progress
//     at its next step and answers the VersionId of the incomplete version,
//     whose AWSPENDING label the caller should remove.
//   - A failed step leaves AWSPENDING where it was: on the empty version if
//     createSecret failed, on the new version otherwise (and if setSecret
//     succeeded, the database already has its password). The server's log
//     (WithLogger) says which step failed and why; WaitRotation returns
//     the same error.
//
// Lab settings: WithRotationWindow holds every rotation between setSecret
// and finishSecret for a while (the database has the new password,
// AWSCURRENT still the old one), and WithRotateEvery replaces the schedule
// of every secret whose rotation is enabled by a short interval, for soak
// runs.
//
// # Regions and replicas
//
// A server serves its primary region (WithRegion, default us-east-1) and
// the regions of WithRegions, all on its one URL: each request is answered
// by the region of its signature's credential scope, which is what an SDK
// client configured for that region sends to the same endpoint (ClientFor
// and ConfigFor make one). Each region has its own secrets, ARNs carrying
// the region; a request signed for a region the server does not serve is
// InvalidSignatureException. CreateSecret and CreateBinarySecret seed the
// primary region; PutSecretString, SecretVersions and WaitRotation find a
// secret in any served region (by name, the primary region's first).
//
// ReplicateSecretToRegions (AddReplicaRegions: Region and KmsKeyId;
// ForceOverwriteReplicaSecret), or CreateSecret with AddReplicaRegions,
// makes read-only replicas of a secret in other served regions: the same
// name, the ARN of the primary with the replica's region. A replica is a
// view of its primary: every version and staging label, the description,
// tags and rotation fields are the primary's at all times (replication is
// instant, never InProgress); only its KmsKeyId and LastAccessedDate are
// its own. As with AWS:
//
//   - GetSecretValue, BatchGetSecretValue, DescribeSecret,
//     ListSecretVersionIds and ListSecrets in the replica's region read the
//     replica; in a region the secret is not replicated to, it is
//     ResourceNotFoundException.
//   - Every other operation on a replica is InvalidParameterException
//     "Operation not permitted on a replica secret. Call must be made in
//     primary secret's region." (the code and message AWS answers, for
//     example to DeleteSecret and PutResourcePolicy); rotation runs in the
//     primary only.
//   - DescribeSecret shows PrimaryRegion on the primary and on its
//     replicas, and ReplicationStatus (Region, KmsKeyId, by default
//     alias/aws/secretsmanager, Status InSync, StatusMessage "Replication
//     succeeded", the replica's LastAccessedDate) on the primary.
//     ListSecrets shows PrimaryRegion.
//   - A region that already has a secret of the same name gets a replica
//     of Status Failed ("Replication failed: Secret name NAME already
//     exists in region REGION."), unless ForceOverwriteReplicaSecret, which
//     deletes that secret first (a primary with replicas of its own is
//     never overwritten). Replicating again to a region that has the
//     replica changes nothing; a Failed one is tried again.
//   - Replicating to the secret's own region is InvalidParameterException
//     "Invalid replica region."; to a region the server does not serve,
//     InvalidParameterException naming WithRegions.
//   - RemoveRegionsFromReplication deletes the replicas (regions without
//     one are ignored). DeleteSecret of a primary that has replicas is
//     InvalidParameterException "You can't delete secret ID that still has
//     replica regions [R1, R2].", as with AWS.
//
// RegionOutage(region) makes one regional endpoint unreachable while the
// others answer: requests signed for it are counted, then their connection
// is closed without an answer, so that the SDK fails with a network error
// that is not a smithy.APIError, as for an endpoint that cannot be reached.
// RegionRestore ends it. FailNextIn injects errors (5xx, throttling, any
// code) into one region's requests, CallsIn counts one region's requests,
// and Call.Region tells the region of each logged request.
//
// # Agent
//
// NewAgent (or StartAgent) serves, on 127.0.0.1 or WithAgentAddr, the HTTP
// API of the AWS Secrets Manager Agent, which the AWS Parameters and
// Secrets Lambda Extension serves too, in front of a Server. It reads the
// server in the server's region or WithAgentRegion's, with the AWS SDK and
// no SDK retries, so that the server's Calls count exactly the agent's
// calls to Secrets Manager. As the agent (aws/aws-secretsmanager-agent)
// does, checking in this order:
//
//   - more requests in progress than WithAgentMaxConns (default 800; /ping
//     has 2 more): 429 "Connection limit exceeded";
//   - but for /ping, a request with X-Forwarded-For: 400 "Forwarded", one
//     without the token (Agent.Token, random unless WithAgentToken) in
//     X-Aws-Parameters-Secrets-Token or X-Vault-Token: 403 "Bad Token";
//   - a method other than GET: 405 "Not allowed";
//   - GET /ping: 200 "healthy";
//   - GET /secretsmanager/get?secretId=ID[&versionId=V][&versionStage=S][&refreshNow=B]
//     and GET /v1/ID[?versionId=V][&versionStage=S][&refreshNow=B]: the
//     secret; an unknown parameter (secretId included, in the path style)
//     is 400 "unknown parameter: X", no secretId 400 "missing parameter
//     secretId" (path style: "missing secret ID"), a refreshNow other than
//     true, false, 1 or 0 (any case) 400 "invalid refreshNow value". The
//     path style takes the ID as it is in the path, not percent-decoded, as
//     the agent does;
//   - any other path: 404 "Not found".
//
// The answer is GetSecretValue's JSON (ARN, Name, VersionId, SecretString
// or base64 SecretBinary, VersionStages) with CreatedDate as a string of
// epoch seconds ("1700000000.123"), as the agent's caching library writes
// it. Errors of Secrets Manager come back with its HTTP status and
// {"__type":CODE, "message":MSG}; a timeout (WithAgentTimeout, default
// 61 s) is 504 {"__type":"TimeoutError", "message":"Timeout"}, a network
// error (Outage, RegionOutage) 502 {"__type":"ConnectionError",
// "message":"Read Error"}, anything else 500 {"__type":"InternalFailure"}.
// Plain-text answers have no Content-Type, as the agent's.
//
// The cache follows the agent's caching library: an entry per secret ID,
// versionId and versionStage as given, served while younger than the TTL
// (WithAgentTTL, default 300 s). Once older, the agent calls DescribeSecret
// and serves the entry again if its version still carries the label asked
// for (AWSCURRENT by default), else calls GetSecretValue; so with TTL 0
// every read calls DescribeSecret, and GetSecretValue only after a change.
// refreshNow=true always calls GetSecretValue and refreshes the entry. When
// a refresh fails transiently (a timeout, a network error, an unreadable
// answer or a 5xx, but not throttling) the expired entry is served and
// kept, as with ignore_transient_errors (on by default); other errors are
// answered. Down and Up stop and restart listening on the same address
// (connection refused meanwhile); the cache survives them, ResetCache
// empties it as a restart of the agent would. Requests counts every
// request received.
//
// # Staging labels
//
// A staging label is attached to at most one version: attaching it to a
// version takes it off the version that had it. Whenever AWSCURRENT moves,
// the version it left gets AWSPREVIOUS. The first version of a secret always
// gets AWSCURRENT. A version may carry only AWSPENDING. Versions left with
// no label are kept as deprecated versions (ListSecretVersionIds with
// IncludeDeprecated lists them, GetSecretValue by VersionId reads them)
// until a secret has more than MaxVersions (100) versions: then the oldest
// deprecated ones are removed, as Secrets Manager removes outdated versions
// beyond 100 (without its 24-hour grace: the emulator's memory stays
// bounded however fast versions are put). A labelled version is never
// removed.
//
// UpdateSecretVersionStage moves only the label it names. In particular the
// finishSecret step of a rotation (moving AWSCURRENT to the AWSPENDING
// version) leaves AWSPENDING on that version, next to AWSCURRENT: the API
// reference of RotateSecret says that after a successful rotation AWSPENDING
// "might be attached to the same version as the AWSCURRENT version, or it
// might not be attached to any version". Removing it is up to the rotation
// function (RemoveFromVersionId). If the label is attached to another
// version, RemoveFromVersionId is required and must name that version
// (InvalidParameterException otherwise), and AWSCURRENT can only be moved,
// never removed.
//
// # Deletion
//
// DeleteSecret schedules the secret for deletion; until its recovery window
// ends it keeps its name, DescribeSecret shows DeletedDate, and reading or
// changing it is InvalidRequestException. The secret is purged lazily once
// the window has passed on the wall clock. ForceDeleteWithoutRecovery removes
// it at once, even when it is already scheduled for deletion.
//
// # Test controls
//
// Beyond the API, a Server offers (see also Regions and replicas):
//
//   - seeding helpers that act on the store directly and are not API calls:
//     CreateSecret, CreateBinarySecret, PutSecretString, SecretVersions;
//   - a call log and counters: Calls, SecretCalls, Log, ResetCalls (every
//     request that reaches the server counts, including refused and failed
//     ones);
//   - fault injection: FailNext (any error code; InternalServiceError,
//     InternalFailure and ServiceUnavailable are answered with HTTP 500),
//     SetLatency (abandoned as soon as the client goes away), Outage and
//     Restore (connections refused, then the same URL works again), and
//     Deny and Allow (AccessDeniedException for chosen secrets);
//   - WaitRotation, which waits for the latest rotation of a secret and
//     returns its error.
//
// The requests a rotation makes (GetSecretValue, PutSecretValue,
// DescribeSecret, UpdateSecretVersionStage) reach the server like any
// other: they are counted and logged, and FailNext, Deny and Outage apply
// to them.
//
// # Compared with moto
//
// A differential test (moto_test.go) runs one sequence of 58 calls against
// this server and against moto's server and compares the answers field by
// field (version IDs, ARN suffixes and dates aside) and the error codes.
// Where they differ, smtest keeps the behaviour that the API reference
// documents, and moto's is the one listed:
//
//   - moto adds SecretVersionsToStages to DescribeSecret and
//     VersionIdsToStages to ListSecrets entries, lists versions without
//     labels in them (with an empty list), never reports LastAccessedDate
//     in DescribeSecret and ListSecrets, and reports every version as
//     accessed now in ListSecretVersionIds.
//   - moto's ListSecretVersionIds ignores IncludeDeprecated, puts the name
//     in ARN and answers an empty NextToken on the last page.
//   - After UpdateSecretVersionStage moved AWSCURRENT, moto's
//     PutSecretValue labels AWSPREVIOUS the version that was current before
//     the move and leaves AWSCURRENT on two versions.
//   - moto attaches a label to a second version when RemoveFromVersionId is
//     missing, removes AWSCURRENT without moving it, changes a secret
//     scheduled for deletion, and accepts names outside the allowed
//     characters; smtest refuses all four (InvalidParameterException,
//     InvalidParameterException, InvalidRequestException,
//     InvalidParameterException).
//   - A ClientRequestToken shorter than 32 characters: ValidationException
//     (a model constraint), InvalidParameterException with moto.
//
// Where the API reference does not say, smtest keeps its answers: a
// MoveToVersionId or RemoveFromVersionId that names no version is
// ResourceNotFoundException (moto: InvalidParameterException); a VersionId
// and a VersionStage of different versions is ResourceNotFoundException
// (moto: InvalidRequestException); a forced DeleteSecret of a secret that
// does not exist is ResourceNotFoundException (moto: success). moto also
// answers ResourceNotFoundException with HTTP 404, AWS and smtest with 400.
//
// Replicas are compared with moto too (TestReplicasAgainstMoto): a secret
// created in us-east-1 with a replica in us-west-2, read, described and
// changed through SDK clients of both regions. The ReplicationStatus, the
// replica's value, version and ARN, its PrimaryRegion, the code and message
// refusing a PutSecretValue to the replica (InvalidParameterException), the
// replica following a put to the primary, the refused DeleteSecret of the
// primary and RemoveRegionsFromReplication agree. Two answers differ: moto
// leaves PrimaryRegion out of the primary's DescribeSecret (smtest shows it
// on primaries and replicas alike), and moto copies the primary's
// ReplicationStatus into the replica's DescribeSecret (smtest shows it on
// the primary only). AWS documents neither.
//
// # Not covered
//
// The emulator has no resource policies, no StopReplicationToReplica (no
// promotion of a replica), no KMS encryption
// (so never DecryptionFailure or EncryptionFailure), no IAM beyond Deny, no
// service quotas or throttling other than FailNext, no limit on or cleanup
// of versions, no rotation of other kinds of secrets (or of SQL Server and
// Oracle databases), no cron() rotation schedules, rotation windows
// (Duration) that are stored but not enforced, and no persistence: the
// store lives in memory for the life of the Server. LastAccessedDate is
// kept to the day, as AWS does; a version's LastAccessedDate is shared by
// the primary and its replicas. The agent has no configuration file, no
// configurable header names, path prefix or port range, no cache size
// limit (cache_size), no Lambda mode (/start_serving), does not read its
// token from the environment or a file, and counts requests in progress
// where the agent counts open connections.
package smtest
