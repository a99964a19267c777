package fwdconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotOneConfig means the input is not one JSON object.
var ErrNotOneConfig = errors.New("expected one config: a JSON object with kftray's fields")

// ParseConfig decodes and validates one config object (kftray's JSON, as
// one entry of a file). Every problem with its fields, unknown and
// wrongly typed fields included, comes back in one *ValidationError;
// input that is not one JSON object is an error wrapping ErrNotOneConfig.
func ParseConfig(data []byte) (Config, error) {
	data = bytes.TrimPrefix(bytes.TrimSpace(data), []byte("\xef\xbb\xbf"))
	if len(data) == 0 || data[0] != '{' {
		return Config{}, fmt.Errorf("%w, got %s", ErrNotOneConfig, describe(data))
	}
	if !json.Valid(data) {
		var v any
		return Config{}, fmt.Errorf("%w; not valid JSON: %v", ErrNotOneConfig, jsonErr(data, json.Unmarshal(data, &v)))
	}
	c, errs := decodeConfig(data)
	if len(errs) > 0 {
		return Config{}, &ValidationError{Name: c.Name(), Problems: errs}
	}
	return c, nil
}
