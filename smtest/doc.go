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
// header) made with the server's access key (WithCredentials), for its
// region (WithRegion) and the service "secretsmanager". The server
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
// streaming (chunked) payload signatures are not supported.
//
// # Operations
//
// These operations follow the semantics of the Secrets Manager API
// reference, including its validation and error codes:
//
//   - CreateSecret: Name, SecretString or SecretBinary (not both; neither
//     creates a secret without versions), ClientRequestToken as the VersionId,
//     Description, KmsKeyId (stored, echoed by DescribeSecret, otherwise
//     ignored). ARNs are arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX.
//     An existing name is ResourceExistsException; a name scheduled for
//     deletion is InvalidRequestException, as with AWS.
//   - GetSecretValue: by name, full ARN or partial ARN (the ARN without the
//     "-XXXXXX" suffix); VersionId and/or VersionStage (default AWSCURRENT;
//     when both are given they must name the same version).
//   - BatchGetSecretValue: SecretIdList (per-secret failures, including
//     AccessDeniedException, are reported in Errors) or Filters with
//     MaxResults and NextToken.
//   - DescribeSecret, ListSecretVersionIds (IncludeDeprecated, paging),
//     ListSecrets (Filters on name, description and all; IncludePlannedDeletion;
//     SortOrder by creation time, ascending by default; paging).
//   - PutSecretValue (ClientRequestToken idempotency, VersionStages) and
//     UpdateSecret (Description, KmsKeyId, and a new AWSCURRENT version).
//   - UpdateSecretVersionStage (MoveToVersionId, RemoveFromVersionId).
//   - DeleteSecret (RecoveryWindowInDays 7 to 30, default 30, or
//     ForceDeleteWithoutRecovery) and RestoreSecret.
//
// Other real operations (RotateSecret, CancelRotateSecret, GetRandomPassword,
// TagResource, UntagResource, the resource policy and replication
// operations) and unknown operations answer UnknownOperationException.
// Malformed JSON is SerializationException; missing required members and
// violated length or range constraints are ValidationException; parameters
// that are well-formed but unacceptable are InvalidParameterException.
//
// # Staging labels
//
// A staging label is attached to at most one version: attaching it to a
// version takes it off the version that had it. Whenever AWSCURRENT moves,
// the version it left gets AWSPREVIOUS. The first version of a secret always
// gets AWSCURRENT. A version may carry only AWSPENDING. Versions left with
// no label are kept as deprecated versions (ListSecretVersionIds with
// IncludeDeprecated lists them, GetSecretValue by VersionId reads them);
// they are never cleaned up.
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
// Beyond the API, a Server offers:
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
//     Deny and Allow (AccessDeniedException for chosen secrets).
//
// # Not covered
//
// The emulator has no rotation (no Lambda invocation, rotation schedules or
// RotationEnabled other than false), no resource policies, no tags, no
// replication, no KMS encryption (so never DecryptionFailure or
// EncryptionFailure), no IAM beyond Deny, no service quotas or throttling
// other than FailNext, no limit on or cleanup of versions, and no
// persistence: the store lives in memory for the life of the Server.
// LastAccessedDate is kept to the day, as AWS does.
package smtest
