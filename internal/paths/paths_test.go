package paths

import (
	"path/filepath"
	"testing"
)

func TestConfigDir(t *testing.T) {
	tests := []struct {
		name                  string
		override, kf, xdg, hm string
		want                  string
		wantErr               bool
	}{
		{name: "override wins", override: "/o", kf: "/k", xdg: "/x", hm: "/h", want: "/o"},
		{name: "KFTRAY_CONFIG", kf: "/k", xdg: "/x", hm: "/h", want: "/k"},
		{name: "XDG", xdg: "/x", hm: "/h", want: "/x/kftray"},
		{name: "home", hm: "/h", want: "/h/.kftray"},
		{name: "nothing", wantErr: true},
		{name: "relative home", hm: "h", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KFTRAY_CONFIG", tt.kf)
			t.Setenv("XDG_CONFIG_HOME", tt.xdg)
			t.Setenv("HOME", tt.hm)
			got, err := ConfigDir(tt.override)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ConfigDir() = %q, want error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != filepath.FromSlash(tt.want) {
				t.Errorf("ConfigDir() = %q, want %q", got, tt.want)
			}
		})
	}
}
