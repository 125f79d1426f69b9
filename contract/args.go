package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// BindJSON decodes the call's single argument, a JSON object, into v (a
// pointer to a struct). Unknown fields, wrong types, trailing data and a
// wrong number of arguments are 400 *Errors that name the field at fault.
func BindJSON(ctx Context, v any) error {
	args := ctx.Args()
	if len(args) != 1 {
		return BadRequest("", "%s takes exactly one argument, a JSON object; got %d arguments", ctx.Function(), len(args))
	}
	return DecodeJSON(args[0], v)
}

// DecodeJSON decodes one JSON object from b into v like BindJSON.
func DecodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if rest := bytes.TrimSpace(b[dec.InputOffset():]); len(rest) > 0 {
		return BadRequest("", "argument: unexpected data after the JSON object at byte %d", dec.InputOffset())
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return BadRequest("", "argument is not valid JSON (at byte %d): %v", syn.Offset, err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return BadRequest("", "argument must be a JSON object, not %s", typ.Value)
		}
		return BadRequest(field, "field %q must be %s, not %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return BadRequest(field, "unknown field %q", field)
	case errors.Is(err, io.EOF):
		return BadRequest("", "argument is empty; want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("", "argument is not valid JSON: it ends too early")
	}
	return BadRequest("", "argument: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return fmt.Sprintf("a %s", k)
}
