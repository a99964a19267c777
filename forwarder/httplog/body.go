package httplog

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// display renders a message's body for people: content-decoded (gzip,
// deflate, br, zstd), JSON indented, at most limit bytes; a binary body
// becomes a note. note says what is missing or why.
func display(m *Message, limit int) (text, note string) {
	if m == nil || m.Size == 0 {
		return "", ""
	}
	var notes []string
	if m.Truncated {
		notes = append(notes, fmt.Sprintf("truncated: %d of %d bytes kept", len(m.Body), m.Size))
	}
	body := m.Body
	if enc := headerValue(m.Headers, "Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		out, err := decode(body, enc, limit)
		switch {
		case err != nil && len(out) == 0:
			notes = append(notes, fmt.Sprintf("%s body could not be decoded: %v", enc, err))
			return "", strings.Join(append(notes, fmt.Sprintf("binary content: %d bytes", m.Size)), "; ")
		case err != nil:
			notes = append(notes, fmt.Sprintf("%s decoding stopped: %v", enc, err))
		}
		body = out
	}
	if len(body) > limit {
		body = body[:limit]
		notes = append(notes, fmt.Sprintf("decoded body truncated at %d bytes", limit))
	}
	mt := mediaType(headerValue(m.Headers, "Content-Type"))
	if !isText(body, mt) {
		return "", strings.Join(append(notes, fmt.Sprintf("binary content: %d bytes", m.Size)), "; ")
	}
	if isJSON(mt) {
		var buf bytes.Buffer
		if json.Indent(&buf, bytes.TrimSpace(body), "", "  ") == nil {
			body = buf.Bytes()
		}
	}
	return string(body), strings.Join(notes, "; ")
}

// decode undoes a Content-Encoding list (applied in order, so undone in
// reverse), producing at most limit+1 bytes.
func decode(body []byte, encodings string, limit int) ([]byte, error) {
	list := strings.Split(encodings, ",")
	out := body
	for i := len(list) - 1; i >= 0; i-- {
		enc := strings.ToLower(strings.TrimSpace(list[i]))
		var r io.Reader
		var err error
		src := bytes.NewReader(out)
		switch enc {
		case "", "identity":
			continue
		case "gzip", "x-gzip":
			r, err = gzip.NewReader(src)
		case "deflate":
			// "deflate" is zlib-wrapped by the spec; some servers send raw.
			if zr, zerr := zlib.NewReader(bytes.NewReader(out)); zerr == nil {
				r = zr
			} else {
				r = flate.NewReader(src)
			}
		case "br":
			r = brotli.NewReader(src)
		case "zstd":
			d, zerr := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(uint64(limit)+1<<20))
			if zerr != nil {
				return nil, zerr
			}
			defer d.Close()
			r = d
		default:
			return nil, fmt.Errorf("unknown content coding %q", enc)
		}
		if err != nil {
			return nil, err
		}
		dec, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
		if err != nil && !errors.Is(err, io.EOF) {
			return dec, err
		}
		out = dec
	}
	return out, nil
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(strings.ToLower(ct), ";")
	}
	return strings.TrimSpace(mt)
}

// isJSON and isText take a media type as mediaType returns it.
func isJSON(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// isText: valid UTF-8 without control characters other than white space,
// unless the content type says binary.
func isText(b []byte, mt string) bool {
	if strings.HasPrefix(mt, "application/grpc") || mt == "application/octet-stream" || strings.HasPrefix(mt, "image/") ||
		strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/") || mt == "application/protobuf" || mt == "application/x-protobuf" {
		return false
	}
	// A body cut by the cap may end inside a character.
	for i := 0; i < 3 && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1]
	}
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}

// sensitive headers are redacted unless the forward turns redaction off.
var sensitive = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// RedactHeaders returns hs with sensitive values replaced by Redacted
// when on (hs itself is never changed).
func RedactHeaders(hs []Header, on bool) []Header { return redact(hs, on) }

func redact(hs []Header, on bool) []Header {
	if !on {
		return hs
	}
	var out []Header
	for i, h := range hs {
		for _, s := range sensitive {
			if strings.EqualFold(h.Name, s) {
				if out == nil {
					out = append([]Header(nil), hs...)
				}
				out[i].Value = Redacted
			}
		}
	}
	if out == nil {
		return hs
	}
	return out
}
