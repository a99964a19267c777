package fwdconfig

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckSetting(t *testing.T) {
	for _, tc := range []struct {
		key, value, want, err string
	}{
		{SettingHTTPLogsDefaultEnabled, "true", "true", ""},
		{SettingHTTPLogsDefaultEnabled, " FALSE ", "false", ""},
		{SettingHTTPLogsDefaultEnabled, "1", "true", ""},
		{SettingHTTPLogsDefaultEnabled, "yes", "", `"yes" is not true or false`},
		{SettingMCPServerPort, "0", "0", ""},
		{SettingMCPServerPort, " 3000", "3000", ""},
		{SettingMCPServerPort, "65536", "", `"65536" is not a whole number in 0..65535`},
		{SettingMCPServerPort, "-1", "", `is not a whole number in 0..65535`},
		{SettingMCPServerEnabled, "maybe", "", `"maybe" is not true or false`},
		{"daemon.desired", "[]", "", "unknown setting; the known settings are " + SettingHTTPLogsDefaultEnabled},
	} {
		got, err := CheckSetting(tc.key, tc.value)
		var se *SettingError
		if tc.err != "" {
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("CheckSetting(%q, %q) = %v; want an error naming the key and saying %q", tc.key, tc.value, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CheckSetting(%q, %q) = %q, %v; want %q", tc.key, tc.value, got, err, tc.want)
		}
	}
	for _, s := range KnownSettings() {
		if v, err := CheckSetting(s.Key, s.Default); err != nil || v != s.Default {
			t.Errorf("the default of %s (%q) does not check: %q %v", s.Key, s.Default, v, err)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"alias":"web","namespace":"dev","service":"web","workload_type":"service","remote_port":80}`))
	if err != nil || c.Alias != "web" || c.Protocol != ProtocolTCP || !c.HTTPLogsAutoCleanup {
		t.Fatalf("%+v %v", c, err)
	}
	_, err = ParseConfig([]byte(`{"alias":"web","service":"web","workload_type":"service","remote_port":80,"colour":"red"}`))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 || ve.Problems[0].Field != "colour" || ve.Problems[1].Field != "namespace" {
		t.Fatalf("bad config: %v", err)
	}
	for _, in := range []string{``, `[{}]`, `"x"`, `{"alias":`} {
		if _, err := ParseConfig([]byte(in)); !errors.Is(err, ErrNotOneConfig) {
			t.Errorf("ParseConfig(%q) = %v; want ErrNotOneConfig", in, err)
		}
	}
}
