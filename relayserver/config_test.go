package relayserver

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	kftrayEnv := map[string]string{"REMOTE_ADDRESS": "db.internal", "REMOTE_PORT": "5432", "LOCAL_PORT": "8080", "PROXY_TYPE": "TCP"}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    Config
		wantErr string
	}{
		{name: "kftray env", env: kftrayEnv,
			want: Config{Mode: "tcp", RemoteAddress: "db.internal", RemotePort: 5432, ListenAddr: ":8080", HealthAddr: ":8081", UDPIdleTimeout: 2 * time.Minute}},
		{name: "flags win", env: kftrayEnv, args: []string{"--mode=udp", "--remote-port=53", "--local-port=9000", "--udp-idle-timeout=30s", "--health-addr="},
			want: Config{Mode: "udp", RemoteAddress: "db.internal", RemotePort: 53, ListenAddr: ":9000", UDPIdleTimeout: 30 * time.Second}},
		{name: "our env", env: map[string]string{"PROXY_TYPE": "udp", "REMOTE_ADDRESS": "10.0.0.1", "REMOTE_PORT": "53", "KFTRAY_SERVER_UDP_IDLE_TIMEOUT": "5s", "KFTRAY_SERVER_HEALTH_ADDR": ":9999"},
			want: Config{Mode: "udp", RemoteAddress: "10.0.0.1", RemotePort: 53, ListenAddr: ":8080", HealthAddr: ":9999", UDPIdleTimeout: 5 * time.Second}},
		{name: "no mode", env: map[string]string{"REMOTE_ADDRESS": "a", "REMOTE_PORT": "1"}, wantErr: "PROXY_TYPE"},
		{name: "ssh mode", env: map[string]string{"PROXY_TYPE": "ssh", "REMOTE_ADDRESS": "a", "REMOTE_PORT": "1"}, wantErr: "reverse tunnel"},
		{name: "bad mode", args: []string{"--mode=sctp", "--remote-address=a", "--remote-port=1"}, wantErr: `unknown proxy type "sctp"`},
		{name: "no address", env: map[string]string{"PROXY_TYPE": "tcp", "REMOTE_PORT": "1"}, wantErr: "REMOTE_ADDRESS"},
		{name: "bad port env", env: map[string]string{"REMOTE_PORT": "http"}, wantErr: `REMOTE_PORT="http"`},
		{name: "port range", args: []string{"--mode=tcp", "--remote-address=a", "--remote-port=70000"}, wantErr: "out of range"},
		{name: "bad idle", env: map[string]string{"KFTRAY_SERVER_UDP_IDLE_TIMEOUT": "soon"}, wantErr: "not a duration"},
		{name: "stray arg", args: []string{"tcp"}, wantErr: `unexpected argument "tcp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Mode != tt.want.Mode || got.RemoteAddress != tt.want.RemoteAddress || got.RemotePort != tt.want.RemotePort ||
				got.ListenAddr != tt.want.ListenAddr || got.HealthAddr != tt.want.HealthAddr || got.UDPIdleTimeout != tt.want.UDPIdleTimeout {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
