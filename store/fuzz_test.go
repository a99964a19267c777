package store

import (
	"context"
	"errors"
	"testing"

	"github.com/kftray-go/kftray/fwdconfig"
)

// FuzzImport feeds arbitrary bytes to the importer. Properties: it never
// panics; it fails only with an *ImportError; what it accepts exports to
// JSON that parses back to the same configs; and importing into a real
// store either succeeds or is an *ImportError. Seeds: testdata/fuzz/FuzzImport
// (kftray's examples and broken variants of them).
func FuzzImport(f *testing.F) {
	s, err := Open(context.Background(), f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })

	f.Fuzz(func(t *testing.T, data []byte) {
		configs, err := fwdconfig.ParseConfigs(data)
		var ie *fwdconfig.ImportError
		if err != nil {
			if !errors.As(err, &ie) || err.Error() == "" {
				t.Fatalf("fwdconfig.ParseConfigs error is %T %v, want *fwdconfig.ImportError", err, err)
			}
			return
		}
		out, err := fwdconfig.FormatConfigs(configs)
		if err != nil {
			t.Fatalf("FormatConfigs: %v", err)
		}
		back, err := fwdconfig.ParseConfigs(out)
		if err != nil {
			t.Fatalf("exported JSON does not import: %v\n%s", err, out)
		}
		if len(back) != len(configs) {
			t.Fatalf("%d configs exported, %d came back", len(configs), len(back))
		}
		for i := range configs {
			if !fwdconfig.SameContent(configs[i], back[i]) {
				t.Fatalf("config %d changed in export/import:\n got %+v\nwant %+v", i+1, back[i], configs[i])
			}
		}
		if _, err := s.ImportConfigs(t.Context(), data); err != nil && !errors.As(err, &ie) {
			t.Fatalf("ImportConfigs of a parsed file: %v", err)
		}
	})
}
