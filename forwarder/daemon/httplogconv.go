package daemon

import (
	"github.com/kftray-go/kftray/forwarder/httplog"
	"github.com/kftray-go/kftray/localapi"
)

// The HTTP log's records as the API shows them: the engine's package
// (forwarder/httplog) does not know the API's types.

// exchangeAPI converts a recorded exchange; full adds the bodies, hide
// redacts sensitive headers.
func exchangeAPI(e *httplog.Exchange, full, hide bool) localapi.HTTPExchange {
	a := localapi.HTTPExchange{ID: e.ID, TraceID: e.TraceID, Forward: e.Forward, Conn: e.Conn, Stream: e.Stream, Proto: e.Proto, Pod: e.Pod,
		Method: e.Method, Path: e.Path, Host: e.Host, Status: e.Status, Reason: e.Reason, GRPCStatus: e.GRPCStatus, Upgrade: e.Upgrade,
		Replay: e.Replay, ReplayOf: e.ReplayOf, Note: e.Note, RequestAt: e.RequestAt, ResponseAt: e.ResponseAt,
		DurationMS: float64(e.Duration().Microseconds()) / 1000}
	text, note := e.RequestBody()
	a.Request = messageAPI(&e.Req, text, note, full, hide)
	if e.Resp != nil {
		text, note := e.ResponseBody()
		m := messageAPI(e.Resp, text, note, full, hide)
		a.Response = &m
	}
	return a
}

func messageAPI(m *httplog.Message, text, note string, full, hide bool) localapi.HTTPMessage {
	out := localapi.HTTPMessage{Headers: headersAPI(m.Headers, hide), Trailers: headersAPI(m.Trailers, hide), BodySize: m.Size, BodyNote: note}
	if full {
		out.Body = text
	}
	return out
}

func headersAPI(hs []httplog.Header, hide bool) []localapi.HTTPHeader {
	out := make([]localapi.HTTPHeader, 0, len(hs))
	for _, h := range httplog.RedactHeaders(hs, hide) {
		out = append(out, localapi.HTTPHeader{Name: h.Name, Value: h.Value})
	}
	return out
}

func statusAPI(s httplog.Stats) localapi.HTTPLogStatus {
	return localapi.HTTPLogStatus{Enabled: s.Enabled, Redact: s.Redact, Exchanges: s.Exchanges, DroppedConns: s.DroppedConns,
		DroppedBytes: s.DroppedBytes, Errors: s.Errors, File: s.File}
}

// matcher filters recorded exchanges as the API's query says.
func matcher(q localapi.HTTPQuery) func(*httplog.Exchange) bool {
	return func(e *httplog.Exchange) bool {
		a := exchangeAPI(e, false, false)
		return q.Match(&a)
	}
}
