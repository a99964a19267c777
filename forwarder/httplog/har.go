package httplog

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/): the fields
// the spec requires, and a few optional ones.
type (
	HAR struct {
		Log HARLog `json:"log"`
	}
	HARLog struct {
		Version string     `json:"version"`
		Creator HARCreator `json:"creator"`
		Entries []HAREntry `json:"entries"`
		Comment string     `json:"comment,omitempty"`
	}
	HARCreator struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	HAREntry struct {
		StartedDateTime string      `json:"startedDateTime"`
		Time            float64     `json:"time"`
		Request         HARRequest  `json:"request"`
		Response        HARResponse `json:"response"`
		Cache           struct{}    `json:"cache"`
		Timings         HARTimings  `json:"timings"`
		Connection      string      `json:"connection,omitempty"`
		Comment         string      `json:"comment,omitempty"`
	}
	HARRequest struct {
		Method      string         `json:"method"`
		URL         string         `json:"url"`
		HTTPVersion string         `json:"httpVersion"`
		Cookies     []HARNameValue `json:"cookies"`
		Headers     []HARNameValue `json:"headers"`
		QueryString []HARNameValue `json:"queryString"`
		PostData    *HARPostData   `json:"postData,omitempty"`
		HeadersSize int64          `json:"headersSize"`
		BodySize    int64          `json:"bodySize"`
	}
	HARResponse struct {
		Status      int            `json:"status"`
		StatusText  string         `json:"statusText"`
		HTTPVersion string         `json:"httpVersion"`
		Cookies     []HARNameValue `json:"cookies"`
		Headers     []HARNameValue `json:"headers"`
		Content     HARContent     `json:"content"`
		RedirectURL string         `json:"redirectURL"`
		HeadersSize int64          `json:"headersSize"`
		BodySize    int64          `json:"bodySize"`
		Comment     string         `json:"comment,omitempty"`
	}
	HARNameValue struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	HARPostData struct {
		MimeType string         `json:"mimeType"`
		Text     string         `json:"text"`
		Params   []HARNameValue `json:"params,omitempty"`
		Comment  string         `json:"comment,omitempty"`
	}
	HARContent struct {
		Size     int64  `json:"size"`
		MimeType string `json:"mimeType"`
		Text     string `json:"text,omitempty"`
		Comment  string `json:"comment,omitempty"`
	}
	HARTimings struct {
		Send    float64 `json:"send"`
		Wait    float64 `json:"wait"`
		Receive float64 `json:"receive"`
	}
)

// HAR returns the recent exchanges that pass match (nil: all; the last
// limit when limit > 0) as a HAR 1.2 document; addr (host:port of the
// forward) makes URLs absolute when a request has no Host.
func (l *Log) HAR(match func(*Exchange) bool, limit int, addr, version string) HAR {
	hide := l.redact.Load()
	h := HAR{Log: HARLog{Version: "1.2", Creator: HARCreator{Name: "kftray", Version: version}, Entries: []HAREntry{}}}
	for _, e := range l.Recent(match, limit) {
		h.Log.Entries = append(h.Log.Entries, harEntry(e, addr, hide))
	}
	return h
}

func harEntry(e *Exchange, addr string, hide bool) HAREntry {
	host := e.Host
	if host == "" {
		host = addr
	}
	u := e.Path
	if strings.HasPrefix(u, "/") {
		u = "http://" + host + u
	}
	ent := HAREntry{
		StartedDateTime: e.RequestAt.UTC().Format(time.RFC3339Nano),
		Time:            ms(e.Duration()),
		Connection:      itoa(e.Conn),
		Comment:         e.Note,
		Request: HARRequest{Method: e.Method, URL: u, HTTPVersion: e.Proto, Cookies: []HARNameValue{},
			Headers: harHeaders(redact(e.Req.Headers, hide)), QueryString: []HARNameValue{}, HeadersSize: -1, BodySize: e.Req.Size},
		Response: HARResponse{HTTPVersion: e.Proto, Cookies: []HARNameValue{}, Headers: []HARNameValue{}, HeadersSize: -1, BodySize: -1,
			Content: HARContent{MimeType: "x-unknown"}},
		Timings: HARTimings{Send: -1, Wait: -1, Receive: -1},
	}
	if pu, err := url.Parse(u); err == nil {
		for k, vs := range pu.Query() {
			for _, v := range vs {
				ent.Request.QueryString = append(ent.Request.QueryString, HARNameValue{Name: k, Value: v})
			}
		}
	}
	if e.Req.Size > 0 {
		ent.Request.PostData = &HARPostData{MimeType: orUnknown(headerValue(e.Req.Headers, "Content-Type")), Text: e.reqText, Comment: e.reqNote}
	}
	if !e.RequestEnd.IsZero() {
		ent.Timings.Send = ms(e.RequestEnd.Sub(e.RequestAt))
	}
	if r := e.Resp; r != nil && e.Status != 0 {
		reason := e.Reason
		if reason == "" {
			reason = http.StatusText(e.Status)
		}
		ent.Response.Status, ent.Response.StatusText = e.Status, reason
		ent.Response.Headers = harHeaders(redact(r.Headers, hide))
		ent.Response.RedirectURL = headerValue(r.Headers, "Location")
		ent.Response.BodySize = r.Size
		ent.Response.Content = HARContent{Size: r.Size, MimeType: orUnknown(headerValue(r.Headers, "Content-Type")), Text: e.respText, Comment: e.respNote}
		if !e.RequestEnd.IsZero() && !e.ResponseAt.IsZero() {
			ent.Timings.Wait = max(0, ms(e.ResponseAt.Sub(e.RequestEnd)))
		}
		if !e.ResponseEnd.IsZero() {
			ent.Timings.Receive = max(0, ms(e.ResponseEnd.Sub(e.ResponseAt)))
		}
	}
	if ent.Timings.Send < 0 {
		ent.Timings.Send = 0
	}
	if ent.Timings.Wait < 0 {
		ent.Timings.Wait = 0
	}
	if ent.Timings.Receive < 0 {
		ent.Timings.Receive = 0
	}
	return ent
}

func harHeaders(hs []Header) []HARNameValue {
	out := make([]HARNameValue, 0, len(hs))
	for _, h := range hs {
		out = append(out, HARNameValue{Name: h.Name, Value: h.Value})
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func orUnknown(s string) string {
	if s == "" {
		return "x-unknown"
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
