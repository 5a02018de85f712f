package whistle

import (
	"errors"
	"fmt"
)

// Error codes are stable English identifiers that clients and tests may rely on.
// The zh-CN message beside a code is for people and may change.
const (
	EINVALID      = "invalid"       // validation failed; Field names the input
	ENOTFOUND     = "not_found"     // the thing does not exist (or must look as if it does not)
	ECONFLICT     = "conflict"      // a concurrent write won; re-read and retry
	EUNAUTHORIZED = "unauthorized"  // credentials missing or wrong
	EFORBIDDEN    = "forbidden"     // authenticated, but the role may not do this
	ETOOLARGE     = "too_large"     // body or file over its limit
	EUNSUPPORTED  = "unsupported"   // media type not accepted
	ERATELIMITED  = "rate_limited"  // too many attempts
	EUNAVAILABLE  = "unavailable"   // a backing service is down; nothing was written
	EILLEGAL      = "illegal_state" // a lifecycle transition not allowed from this state
	EINTERNAL     = "internal"      // a bug or an unexpected failure
)

// Error is the application error: a stable code, a zh-CN message safe to show to
// the user, and optionally the input field it concerns. Wrap causes with %w in
// Err; they are logged, never shown.
type Error struct {
	Code    string
	Message string
	Field   string
	Err     error
}

func (e *Error) Error() string {
	s := e.Code
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted zh-CN message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns a validation error naming the offending input field.
func FieldError(field, message string) *Error {
	return &Error{Code: EINVALID, Field: field, Message: message}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the user-facing zh-CN message of err; internal errors get
// a generic message so that no detail leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "服务器内部错误，请稍后再试。"
}
