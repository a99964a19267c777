package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Handle adds an endpoint beyond the Backend's (config sources: discover,
// git sync), behind the same caller checks. Register before Serve.
func (s *Server) Handle(pattern string, h http.HandlerFunc) { s.mux.HandleFunc(pattern, h) }

// ReadJSON decodes a request body of at most limit bytes into v, refusing
// unknown fields; the error is a 400 naming what to send (want).
func ReadJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, want string) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return WithStatus(http.StatusBadRequest, fmt.Errorf("request body: %w; send %s", err, want))
	}
	return nil
}

// WriteJSON answers v with code.
func WriteJSON(w http.ResponseWriter, code int, v any) { writeJSON(w, code, v) }

// WriteError answers err with its status (WithStatus, or the one the
// config errors have: 400 for invalid configs, 404 not found...).
func WriteError(w http.ResponseWriter, err error) { writeError(w, errStatus(err), err) }
