package smtest

import (
	"fmt"
	"net/http"
	"strings"
)

// Error codes returned by the emulator. They are the codes real AWS Secrets
// Manager (or the AWS front end in front of it) uses.
const (
	codeAccessDenied         = "AccessDeniedException"
	codeHostNotAllowed       = "HostNotAllowedException"
	codeIncompleteSignature  = "IncompleteSignatureException"
	codeInternalFailure      = "InternalFailure"
	codeInternalServiceError = "InternalServiceError"
	codeInvalidNextToken     = "InvalidNextTokenException"
	codeInvalidParameter     = "InvalidParameterException"
	codeInvalidRequest       = "InvalidRequestException"
	codeInvalidSignature     = "InvalidSignatureException"
	codeLimitExceeded        = "LimitExceededException"
	codeMissingAuthToken     = "MissingAuthenticationTokenException"
	codeResourceExists       = "ResourceExistsException"
	codeResourceNotFound     = "ResourceNotFoundException"
	codeSerialization        = "SerializationException"
	codeServiceUnavailable   = "ServiceUnavailable"
	codeUnknownOperation     = "UnknownOperationException"
	codeUnrecognizedClient   = "UnrecognizedClientException"
	codeValidation           = "ValidationException"

	// codeRequestCanceled is only ever written to the call log: the client
	// went away (or the server was stopped) while the request was waiting,
	// so no response was sent.
	codeRequestCanceled = "RequestCanceled"
)

// apiError is an error answered to the client as an AWS JSON 1.1 error.
type apiError struct {
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// status is the HTTP status AWS uses for the error code: 5xx for server
// faults, 400 for everything else (including ThrottlingException and
// AccessDeniedException). The emulator's own HostNotAllowedException is
// 421 Misdirected Request.
func (e *apiError) status() int {
	return statusForCode(e.Code)
}

func statusForCode(code string) int {
	switch code {
	case codeInternalServiceError, codeInternalFailure, codeServiceUnavailable:
		return http.StatusInternalServerError
	case codeHostNotAllowed:
		return http.StatusMisdirectedRequest
	}
	return http.StatusBadRequest
}

func newError(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func errNotFound() *apiError {
	return newError(codeResourceNotFound, "Secrets Manager can't find the specified secret.")
}

func errMarkedForDeletion() *apiError {
	return newError(codeInvalidRequest,
		"You can't perform this operation on the secret because it was marked for deletion.")
}

func errAccessDenied(op, resource string) *apiError {
	return newError(codeAccessDenied,
		"User: arn:aws:iam::smtest:user/smtest is not authorized to perform: secretsmanager:%s on resource: %s because no identity-based policy allows the secretsmanager:%s action",
		op, resource, op)
}

// validation collects constraint violations the way AWS's request validation
// reports them: one ValidationException listing every violation.
type validation struct {
	problems []string
}

func (v *validation) required(member string, present bool) {
	if !present {
		v.problems = append(v.problems,
			fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member))
	}
}

func (v *validation) length(member string, s *string, minLen, maxLen int) {
	if s == nil {
		return
	}
	n := len([]rune(*s))
	if n < minLen || n > maxLen {
		v.problems = append(v.problems,
			fmt.Sprintf("Value at '%s' failed to satisfy constraint: Member must have length between %d and %d, inclusive", member, minLen, maxLen))
	}
}

func (v *validation) rangeInt(member string, n *int64, minVal, maxVal int64) {
	if n == nil {
		return
	}
	if *n < minVal || *n > maxVal {
		v.problems = append(v.problems,
			fmt.Sprintf("Value '%d' at '%s' failed to satisfy constraint: Member must have value between %d and %d, inclusive", *n, member, minVal, maxVal))
	}
}

func (v *validation) custom(problem string) {
	v.problems = append(v.problems, problem)
}

func (v *validation) err() *apiError {
	switch len(v.problems) {
	case 0:
		return nil
	case 1:
		return newError(codeValidation, "1 validation error detected: %s", v.problems[0])
	default:
		return newError(codeValidation, "%d validation errors detected: %s",
			len(v.problems), strings.Join(v.problems, "; "))
	}
}
