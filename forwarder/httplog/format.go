package httplog

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// formatREST renders an exchange as kftray writes its .http files (the
// REST-client format): a request entry and a response entry, each opened
// by "# ----" and "# Trace ID:" comment lines and closed by "###".
//
//	# ----------------------------------------
//	# Trace ID: 0b6f...
//	# Request at: 2026-01-02T15:04:05.123Z
//	GET /api HTTP/1.1
//	Host: web
//
//	###
//
//	# ----------------------------------------
//	# Trace ID: 0b6f...
//	# Response at: 2026-01-02T15:04:05.140Z
//	# Took: 17 ms
//	HTTP/1.1 200 OK
//	Content-Type: application/json
//
//	{ ... }
//
//	###
func formatREST(e *Exchange, hide bool) []byte {
	var b strings.Builder
	b.Grow(512 + len(e.reqText) + len(e.respText))
	b.WriteString("\n# ----------------------------------------\n# Trace ID: ")
	b.WriteString(e.TraceID)
	b.WriteString("\n# Request at: ")
	b.WriteString(e.RequestAt.UTC().Format(time.RFC3339Nano))
	b.WriteByte('\n')
	if e.Replay {
		fmt.Fprintf(&b, "# Replay of: %d\n", e.ReplayOf)
	}
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	b.WriteByte(' ')
	b.WriteString(e.Proto)
	b.WriteByte('\n')
	reqHeaders := redact(e.Req.Headers, hide)
	if e.Stream != 0 && e.Host != "" && headerValue(reqHeaders, "Host") == "" {
		// HTTP/2 has :authority, not Host; REST clients need Host.
		fmt.Fprintf(&b, "Host: %s\n", e.Host)
	}
	writeHeaders(&b, reqHeaders)
	b.WriteByte('\n')
	writeBody(&b, e.reqText, e.reqNote)
	writeTrailers(&b, redact(e.Req.Trailers, hide))
	if e.Resp == nil || e.Status == 0 {
		if e.Note != "" {
			fmt.Fprintf(&b, "\n# No response: %s", e.Note)
		}
		b.WriteString("\n\n###\n")
		return []byte(b.String())
	}
	b.WriteString("\n\n###\n\n# ----------------------------------------\n# Trace ID: ")
	b.WriteString(e.TraceID)
	b.WriteString("\n# Response at: ")
	b.WriteString(e.ResponseEnd.UTC().Format(time.RFC3339Nano))
	b.WriteString("\n# Took: ")
	b.WriteString(strconv.FormatInt(e.Duration().Milliseconds(), 10))
	b.WriteString(" ms\n")
	if e.Note != "" {
		fmt.Fprintf(&b, "# Note: %s\n", oneLine(e.Note))
	}
	reason := e.Reason
	if reason == "" {
		reason = http.StatusText(e.Status)
	}
	b.WriteString(e.Proto)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(e.Status))
	b.WriteByte(' ')
	b.WriteString(reason)
	b.WriteByte('\n')
	writeHeaders(&b, redact(e.Resp.Headers, hide))
	b.WriteByte('\n')
	writeBody(&b, e.respText, e.respNote)
	writeTrailers(&b, redact(e.Resp.Trailers, hide))
	b.WriteString("\n\n###\n")
	return []byte(b.String())
}

func writeHeaders(b *strings.Builder, hs []Header) {
	for _, h := range hs {
		b.WriteString(h.Name)
		b.WriteString(": ")
		b.WriteString(oneLine(h.Value))
		b.WriteByte('\n')
	}
}

func writeTrailers(b *strings.Builder, hs []Header) {
	for _, h := range hs {
		fmt.Fprintf(b, "\n# Trailer: %s: %s", h.Name, oneLine(h.Value))
	}
}

// writeBody writes a body, and a binary one as kftray does.
func writeBody(b *strings.Builder, text, note string) {
	if text != "" {
		// A line "###" in a body would end the entry for a REST client.
		b.WriteString(strings.ReplaceAll(text, "\n###", "\n# ###"))
	}
	if note == "" {
		return
	}
	if text != "" {
		b.WriteByte('\n')
	}
	for i, n := range strings.Split(note, "; ") {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(b, "# <%s>", n)
	}
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strconv.Quote(s)
}
