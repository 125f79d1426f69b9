package contract

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Response is a handler's answer. Status follows HTTP conventions: 200 OK,
// 4xx the caller's fault, 5xx the contract's. It reaches the client as is;
// only a 2xx response is endorsed.
type Response struct {
	Status  int32
	Message string
	Payload []byte
}

// OK is a 200 response carrying payload.
func OK(payload []byte) Response { return Response{Status: 200, Payload: payload} }

// JSON is a 200 response carrying v encoded as JSON, or a 500 response if v
// cannot be encoded.
func JSON(v any) Response {
	b, err := json.Marshal(v)
	if err != nil {
		return Fail(fmt.Errorf("encode response: %w", err))
	}
	return OK(b)
}

// Error is a structured error returned to the client: Status and Message
// become the response's status and message, and the payload is the JSON
// object {"code": Code, "message": Message, "field": Field} (field omitted
// when empty) so clients can branch on Code and point at Field.
type Error struct {
	Status  int32  `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Response turns e into a Response.
func (e *Error) Response() Response {
	b, err := json.Marshal(e)
	if err != nil {
		b = nil // a struct of strings always encodes
	}
	return Response{Status: e.Status, Message: e.Message, Payload: b}
}

func newError(status int32, code, field, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 error about the argument field ("" if none).
func BadRequest(field, format string, args ...any) *Error {
	return newError(400, "bad_request", field, format, args...)
}

// Forbidden is a 403 error: the caller may not do this.
func Forbidden(format string, args ...any) *Error {
	return newError(403, "forbidden", "", format, args...)
}

// NotFound is a 404 error.
func NotFound(format string, args ...any) *Error {
	return newError(404, "not_found", "", format, args...)
}

// Conflict is a 409 error: the request conflicts with the current state.
func Conflict(format string, args ...any) *Error {
	return newError(409, "conflict", "", format, args...)
}

// Internal is a 500 error: the contract failed.
func Internal(format string, args ...any) *Error {
	return newError(500, "internal", "", format, args...)
}

// Fail turns err into an error response: an *Error (anywhere in the chain)
// keeps its status; the SDK's sentinel errors map to 400 (ErrInvalidKey,
// ErrReadOnly, ErrInvalidArgument), 413 (ErrTooLarge), 429 (ErrLimit) or
// 503 (ErrUnavailable); anything else is a 500.
func Fail(err error) Response {
	if err == nil {
		return Internal("contract failed without an error").Response()
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Status == 0 {
			e = &Error{Status: 500, Code: e.Code, Field: e.Field, Message: e.Message}
		}
		return e.Response()
	}
	switch {
	case errors.Is(err, ErrInvalidKey), errors.Is(err, ErrInvalidArgument):
		return newError(400, "bad_request", "", "%v", err).Response()
	case errors.Is(err, ErrReadOnly):
		return newError(400, "read_only", "", "%v", err).Response()
	case errors.Is(err, ErrTooLarge):
		return newError(413, "too_large", "", "%v", err).Response()
	case errors.Is(err, ErrLimit):
		return newError(429, "limit", "", "%v", err).Response()
	case errors.Is(err, ErrUnavailable):
		return newError(503, "unavailable", "", "%v", err).Response()
	}
	return newError(500, "internal", "", "%v", err).Response()
}
