package secretsql

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, for errors.Is. Every error secretsql makes matches exactly
// one of them; the caller's context errors (context.Canceled,
// context.DeadlineExceeded) and the native driver's errors other than
// rejected credentials are returned unchanged, and when the server rejected
// the credentials the driver's error is wrapped in an [*AuthError].
var (
	// ErrInvalidDSN: the DSN (secret id and query keys) cannot be used.
	ErrInvalidDSN = errors.New("secretsql: invalid DSN")
	// ErrInvalidOption: a functional option was given a value it cannot use.
	ErrInvalidOption = errors.New("secretsql: invalid option")
	// ErrUnknownEngine: no engine is registered under that name.
	ErrUnknownEngine = errors.New("secretsql: unknown engine")

	// ErrSecretNotFound: Secrets Manager has no such secret, or no version
	// with the requested stage (ResourceNotFoundException).
	ErrSecretNotFound = errors.New("secretsql: secret not found")
	// ErrAccessDenied: the caller may not read the secret
	// (AccessDeniedException): grant secretsmanager:GetSecretValue on it.
	ErrAccessDenied = errors.New("secretsql: access to the secret denied")
	// ErrSecretDeleted: the secret is scheduled for deletion
	// (InvalidRequestException, the only cause GetSecretValue reports).
	ErrSecretDeleted = errors.New("secretsql: secret is scheduled for deletion")
	// ErrDecryption: Secrets Manager could not decrypt the secret with its
	// KMS key (DecryptionFailure): grant kms:Decrypt on the key.
	ErrDecryption = errors.New("secretsql: secret could not be decrypted")
	// ErrThrottled: Secrets Manager throttled the request (ThrottlingException).
	ErrThrottled = errors.New("secretsql: request throttled by Secrets Manager")
	// ErrSecretsManager: any other failure to read the secret (network,
	// credentials of the AWS client, server errors).
	ErrSecretsManager = errors.New("secretsql: secrets manager request failed")

	// ErrSourceFailed: a credential source other than Secrets Manager
	// failed (signing an IAM token: the AWS credentials could not be
	// retrieved; a Vault request).
	ErrSourceFailed = errors.New("secretsql: credential source failed")

	// ErrMalformedSecret: the secret value is not a JSON object of the
	// database secret structure, or a key has the wrong type.
	ErrMalformedSecret = errors.New("secretsql: malformed secret")
	// ErrMissingKey: a key the connection needs is missing or empty.
	ErrMissingKey = errors.New("secretsql: secret is missing a required key")
	// ErrEngineMismatch: the secret's "engine" does not fit the driver opened.
	ErrEngineMismatch = errors.New("secretsql: secret engine does not match driver")

	// ErrAuthFailed: the database rejected every credential secretsql could
	// find within the retry budget. The driver's own error is wrapped too.
	ErrAuthFailed = errors.New("secretsql: database rejected the credentials")
	// ErrClosed: the Connector, Handle or Cache was closed.
	ErrClosed = errors.New("secretsql: connector closed")
)

// DSNError reports a DSN or option that cannot be used. It matches
// [ErrInvalidDSN] (or [ErrInvalidOption]) with errors.Is.
type DSNError struct {
	Key    string // the DSN key at fault; "" for the secret id itself
	Reason string // what is wrong and how to fix it
	Err    error  // the underlying parse error, if any
	option bool
}

// Error describes the key at fault and how to fix it.
func (e *DSNError) Error() string {
	var b strings.Builder
	if e.option {
		b.WriteString("secretsql: invalid option")
	} else {
		b.WriteString("secretsql: invalid DSN")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, " key %q", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel and the underlying parse error.
func (e *DSNError) Unwrap() []error {
	s := ErrInvalidDSN
	if e.option {
		s = ErrInvalidOption
	}
	if e.Err == nil {
		return []error{s}
	}
	return []error{s, e.Err}
}

// SecretError reports a secret that was read but cannot be used: not JSON, a
// wrong type, a missing key, or another engine. It names the secret and the
// key, never a value. It matches [ErrMalformedSecret], [ErrMissingKey] or
// [ErrEngineMismatch].
type SecretError struct {
	SecretARN string // the secret's ARN (or the id asked for, before it is known)
	VersionID string // the version read, if known
	Key       string // the JSON key at fault, if any
	Reason    string // what is wrong, never a value
	Kind      error  // one of the sentinels above; nil means ErrMalformedSecret
	Err       error  // underlying error (e.g. from encoding/json), value-free
}

// Error names the secret, the version and the key, never a value.
func (e *SecretError) Error() string {
	var b strings.Builder
	b.WriteString(strings.TrimPrefix(e.kind().Error(), "secretsql: "))
	b.WriteString(": secret ")
	b.WriteString(e.SecretARN)
	if e.VersionID != "" {
		fmt.Fprintf(&b, " (version %s)", e.VersionID)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return "secretsql: " + b.String()
}

// Unwrap returns the sentinel and the underlying error.
func (e *SecretError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.kind()}
	}
	return []error{e.kind(), e.Err}
}

// kind is Kind, ErrMalformedSecret if unset.
func (e *SecretError) kind() error {
	if e.Kind == nil {
		return ErrMalformedSecret
	}
	return e.Kind
}

// FetchError reports a failed read of a secret: a GetSecretValue call, a
// request to the Secrets Manager Agent, or a read of a file. It matches one
// of [ErrSecretNotFound], [ErrAccessDenied], [ErrSecretDeleted],
// [ErrDecryption], [ErrThrottled] or [ErrSecretsManager] — or, for a file
// that does not hold the secret's JSON, [ErrMalformedSecret] — and wraps
// the cause (errors.As reaches the AWS SDK's smithy.APIError and typed
// exceptions).
type FetchError struct {
	SecretID string // the secret id as configured
	Stage    string // the staging label asked for
	Code     string // the AWS error code, if the service answered
	Kind     error  // one of the sentinels above
	Err      error  // the AWS SDK's error (or the agent's, or the file system's)

	hint        string // what the source knows to say, in place of the usual hint
	unavailable bool   // the service could not be reached or failed (network, timeout, 5xx, throttling)
	source      string // the source that failed: "" (the GetSecretValue API), "agent" or "file"
	where       string // the agent's host:port
}

// Error names the secret and the stage, with a hint for the usual fixes.
func (e *FetchError) Error() string {
	hint := e.defaultHint()
	if e.hint != "" {
		hint = " (" + e.hint + ")"
	}
	return fmt.Sprintf("secretsql: reading secret %s (stage %s): %s%s: %v",
		e.SecretID, e.Stage, strings.TrimPrefix(e.Kind.Error(), "secretsql: "), hint, e.Err)
}

// defaultHint is the usual fix for the kind of failure, for the source
// that failed.
func (e *FetchError) defaultHint() string {
	switch e.source {
	case "agent":
		return e.agentHint()
	case "file":
		return e.fileHint()
	}
	hint := ""
	switch e.Kind {
	case ErrAccessDenied:
		hint = " (grant secretsmanager:GetSecretValue on the secret, and kms:Decrypt for a customer-managed key)"
	case ErrDecryption:
		hint = " (grant kms:Decrypt on the secret's KMS key)"
	case ErrSecretNotFound:
		hint = " (check the secret id, the region and the staging label)"
	case ErrSecretDeleted:
		hint = " (restore it with RestoreSecret, or point the DSN at another secret)"
	case ErrThrottled:
		hint = " (secretsql backs off and keeps serving cached credentials; share one connector per secret)"
	case ErrSecretsManager:
		switch e.Code {
		case "":
			if !errors.Is(e.Err, context.Canceled) && !errors.Is(e.Err, context.DeadlineExceeded) {
				hint = " (no answer from Secrets Manager: check network access to its endpoint, and the region)"
			}
		case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature",
			"ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch":
			hint = " (check the AWS credentials the SDK's default chain or WithAWSConfig provides)"
		}
	}
	return hint
}

// agentHint is the usual fix of a read through the agent: the agent reads
// with its own AWS credentials and IAM role, in its own region; the
// process only reaches it (its address, its SSRF token).
func (e *FetchError) agentHint() string {
	switch e.Kind {
	case ErrAccessDenied:
		return " (the agent reads with its own IAM role: grant that role secretsmanager:GetSecretValue on the secret, and kms:Decrypt for a customer-managed key)"
	case ErrDecryption:
		return " (the agent reads with its own IAM role: grant that role kms:Decrypt on the secret's KMS key)"
	case ErrSecretNotFound:
		return " (check the secret id, the agent's region (it reads only its own; use the secret's ARN, or failover_region for a replica) and the staging label)"
	case ErrSecretDeleted:
		return " (restore it with RestoreSecret, or point the DSN at another secret)"
	case ErrThrottled:
		return " (secretsql backs off and keeps serving cached credentials; the agent shares one read among the processes of the host)"
	}
	switch e.Code {
	case "":
		if errors.Is(e.Err, context.Canceled) || errors.Is(e.Err, context.DeadlineExceeded) {
			return ""
		}
		return " (is " + e.where + " the Secrets Manager Agent (or the Lambda extension)? the DSN key agent, or PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, names it)"
	case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature",
		"ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch":
		return " (Secrets Manager refused the agent's own AWS credentials: check the role or credentials the agent runs with; secretsql sends it none)"
	}
	return " (the agent passed on this error of Secrets Manager)"
}

// fileHint is the usual fix of a file's read.
func (e *FetchError) fileHint() string {
	switch e.Kind {
	case ErrSecretNotFound:
		return " (check the path, and that the volume holding the file is mounted: the Secrets Store CSI driver's SecretProviderClass and the pod's volumeMounts)"
	case ErrAccessDenied:
		return " (the process may not read the file: check its mode and owner, and the mount's (the CSI driver's filePermission))"
	}
	return " (check the path: it must name a file holding the database secret JSON)"
}

// Unwrap returns the sentinel and the SDK's error.
func (e *FetchError) Unwrap() []error { return []error{e.Kind, e.Err} }

// AuthError reports that the database rejected the credentials of every
// version secretsql tried. It matches [ErrAuthFailed], and errors.As reaches
// the driver's own error (*pgconn.PgError, *mysql.MySQLError, mssql.Error, …).
type AuthError struct {
	Engine    string // the secretsql engine, e.g. "postgres"
	SecretARN string // the secret's ARN
	VersionID string // the last version tried
	Attempts  int    // connects tried, across versions
	Err       error  // the driver's error from the last attempt
	FetchErr  error  // a failed read of the secret while looking for newer credentials, if any (not wrapped)

	hint string // what the source says a rejection most likely means
}

// Error names the engine, the secret, the last version and the attempts,
// followed by the driver's own message.
func (e *AuthError) Error() string {
	who := e.Engine
	if who == "" {
		who = "the database"
	}
	s := fmt.Sprintf("secretsql: %s rejected the credentials of secret %s (version %s) after %d attempt(s): %v",
		who, e.SecretARN, e.VersionID, e.Attempts, e.Err)
	if e.FetchErr != nil {
		s += "; and re-reading the secret failed: " + e.FetchErr.Error()
	}
	if e.hint != "" {
		s += " (" + e.hint + ")"
	}
	return s
}

// Unwrap returns ErrAuthFailed and the driver's error. FetchErr is not
// wrapped, so that an AuthError matches no other sentinel; read the field.
func (e *AuthError) Unwrap() []error { return []error{ErrAuthFailed, e.Err} }
