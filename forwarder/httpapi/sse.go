package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// flusher is w's Flusher; without one (the connection cannot stream) it
// answers 500 and reports false.
func flusher(w http.ResponseWriter) (http.Flusher, bool) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming is not supported on this connection"))
	}
	return fl, ok
}

// beginSSE answers 200 with the headers of a server-sent event stream.
func beginSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// writeSSE writes v as one event of type typ.
func writeSSE(w io.Writer, typ string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
	return err
}

// keepAlive writes a comment that keeps an idle stream open through
// proxies.
func keepAlive(w io.Writer) error {
	_, err := fmt.Fprint(w, ": keep-alive\n\n")
	return err
}
