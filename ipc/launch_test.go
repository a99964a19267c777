package ipc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestFilterPluginEnv(t *testing.T) {
	in := []string{
		"PATH=/tmp/evil",
		"PLUGIN_UNIX_SOCKET_DIR=/tmp/attacker",
		"PLUGIN_UNIX_SOCKET_GROUP=0",
		"TMPDIR=/tmp/attacker",
		"LD_PRELOAD=/tmp/evil.so",
		"PLUGIN_PROTOCOL_VERSIONS=1",
		Handshake.MagicCookieKey + "=" + Handshake.MagicCookieValue,
		"PLUGIN_CLIENT_CERT=-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----",
		"PLUGIN_PROTOCOL_VERSIONS=2", // last one wins, as in exec
		"garbage",
	}
	got, err := FilterPluginEnv(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"PLUGIN_PROTOCOL_VERSIONS=2",
		Handshake.MagicCookieKey + "=" + Handshake.MagicCookieValue,
		"PLUGIN_CLIENT_CERT=-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"PLUGIN_CLIENT_CERT=" + strings.Repeat("x", MaxEnvValue+1), "PLUGIN_PROTOCOL_VERSIONS=1\x00"} {
		if _, err := FilterPluginEnv([]string{bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("accepted %.40q: %v", bad, err)
		}
	}
}
