package vault

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode"

	"github.com/hashicorp/vault/api"
)

// The kinds of [Error]; errors.Is tells them.
var (
	// ErrPermissionDenied is Vault's 403: the token is not valid (expired,
	// revoked, unknown) or its policies do not allow the operation on the
	// path.
	ErrPermissionDenied = errors.New("permission denied (the token, or its policy for the path)")
	// ErrNotFound is an unknown role or nothing at the path (Vault's 404,
	// or a 400 "unknown role").
	ErrNotFound = errors.New("not found (an unknown role, or nothing at the path)")
	// ErrUnavailable is a Vault server that cannot answer now: the
	// connection failed or timed out, the server is sealed or has no active
	// node (503), it answered 5xx, or a request quota was reached (429).
	ErrUnavailable = errors.New("unavailable (unreachable, sealed, or failing)")
	// ErrBadAnswer is an answer that holds no usable credentials (no
	// username or password), or that is too large or malformed.
	ErrBadAnswer = errors.New("an answer without usable credentials")
	// ErrClosed is the error of a [Source] used after Close.
	ErrClosed = errors.New("the vault source is closed")
)

// Error is the error of a Vault operation: it names the server, the
// operation and the path, never a token, secret id or password. Kind is
// one of ErrPermissionDenied, ErrNotFound, ErrUnavailable, ErrBadAnswer,
// ErrClosed, or nil; errors.Is matches it, and Err, the cause.
type Error struct {
	Op     string // the operation: "read", "renew", "revoke", "login"
	Path   string // the Vault API path (after /v1/)
	Addr   string // the server's address
	Status int    // the HTTP status of Vault's answer, 0 without one
	Kind   error  // the kind of failure, or nil
	Err    error  // the cause: Vault's own error messages, or the transport's error
}

// Error describes the failure.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("vault: ")
	b.WriteString(e.Op)
	if e.Path != "" {
		b.WriteString(" " + e.Path)
	}
	if e.Addr != "" {
		b.WriteString(" at " + e.Addr)
	}
	if e.Status != 0 {
		b.WriteString(" (HTTP " + strconv.Itoa(e.Status) + ")")
	}
	if e.Kind != nil {
		b.WriteString(": " + e.Kind.Error())
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// vaultErrorStrings are Vault's own error strings of an answer, bounded and
// stripped of control characters.
type vaultErrorStrings []string

const (
	maxErrorStrings   = 4
	maxErrorStringLen = 200
)

func (m vaultErrorStrings) Error() string {
	if len(m) == 0 {
		return "no message"
	}
	return strings.Join(m, "; ")
}

// boundedMessages bounds Vault's error strings: at most a few, each short and
// printable.
func boundedMessages(msgs []string) vaultErrorStrings {
	var out vaultErrorStrings
	for _, m := range msgs {
		if len(out) == maxErrorStrings {
			out = append(out, "…")
			break
		}
		m = boundedText(m, maxErrorStringLen)
		if m != "" {
			out = append(out, m)
		}
	}
	return out
}

// boundedText replaces control characters with spaces and cuts s to at most
// n bytes (on a rune boundary).
func boundedText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	s = strings.TrimPrefix(s, "1 error occurred: * ")
	if len(s) > n {
		cut := n
		for cut > 0 && !isUTF8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isUTF8Start(b byte) bool { return b&0xC0 != 0x80 }

// classifyErr makes the *Error of a failed request. tokens are strings that
// must not appear in it (the token used), scrubbed as a last resort.
func classifyErr(op, path, addr string, err error, tokens ...string) *Error {
	var ve *Error
	if errors.As(err, &ve) {
		return ve
	}
	e := &Error{Op: op, Path: path, Addr: addr}
	var re *api.ResponseError
	switch {
	case errors.As(err, &re):
		e.Status = re.StatusCode
		msgs := re.Errors
		if re.RawError {
			msgs = []string{"an answer that is not Vault's JSON"}
		}
		clean := boundedMessages(msgs)
		e.Err = clean
		e.Kind = kindOfStatus(re.StatusCode, clean)
	case errors.Is(err, errAnswerTooLarge):
		e.Kind, e.Err = ErrBadAnswer, err
	case errors.Is(err, errOtherHost), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Kind, e.Err = ErrUnavailable, err
	default:
		e.Kind, e.Err = ErrUnavailable, scrubTokens(err, tokens)
	}
	return e
}

// kindOfStatus is the kind of an answer with status code status.
func kindOfStatus(status int, msgs vaultErrorStrings) error {
	switch {
	case status == 403:
		return ErrPermissionDenied
	case status == 404:
		return ErrNotFound
	case status == 400:
		// Vault gives nothing but the text for an unknown role.
		for _, m := range msgs {
			l := strings.ToLower(m)
			if strings.Contains(l, "unknown role") || strings.Contains(l, "role not found") || strings.Contains(l, "does not exist") {
				return ErrNotFound
			}
		}
		return nil
	case status == 429 || status >= 500:
		return ErrUnavailable
	}
	return nil
}

// scrubTokens returns err, or an error of its text with every token replaced,
// should one appear in it.
func scrubTokens(err error, tokens []string) error {
	msg := err.Error()
	leak := false
	for _, t := range tokens {
		if t != "" && strings.Contains(msg, t) {
			msg = strings.ReplaceAll(msg, t, "[redacted]")
			leak = true
		}
	}
	if !leak {
		return err
	}
	return errors.New(msg)
}
