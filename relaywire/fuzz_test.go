package relaywire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the decoder. It must never panic, must
// end with io.EOF or a protocol error, and every frame it accepts must encode
// back to exactly the bytes it came from.
func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{FrameData, 0, 0, 0, 1, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{FrameClose, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{FrameData, 0, 0, 0, 1, 0xff, 0xe4})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		var re []byte
		for {
			fr, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("non-protocol error from an in-memory stream: %v", err)
				}
				return
			}
			if len(fr.Payload) > MaxPayload {
				t.Fatalf("accepted a %d-byte payload", len(fr.Payload))
			}
			re, err = AppendFrame(re, fr.Type, fr.Flow, fr.Payload)
			if err != nil {
				t.Fatalf("re-encoding an accepted frame: %v", err)
			}
		}
		if !bytes.Equal(re, data) {
			t.Fatalf("re-encoded stream differs from input")
		}
	})
}
