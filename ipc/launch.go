package ipc

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// The launcher session protocol. The forwarder connects to the launcher
// socket, checks the server is uid 0, and sends one LaunchRequest frame
// carrying three descriptors: the plugin's stdout and stderr pipe ends and
// its end of the fd channel. The launcher answers with one LaunchResponse.
// The connection then stays open for the life of the session: closing it
// kills the plugin; the plugin exiting closes it.

// LaunchFDs is the number of descriptors a LaunchRequest carries.
const LaunchFDs = 3

// LaunchRequest is the forwarder's only input to the launcher besides the
// kernel's peer credentials.
type LaunchRequest struct {
	// Env holds go-plugin's handshake variables. The launcher keeps only
	// the names in PluginEnvAllowlist and sets everything else itself.
	Env []string `json:"env"`
}

// LaunchResponse reports the spawned plugin or why it was refused.
type LaunchResponse struct {
	PID     int    `json:"pid,omitempty"`
	Session string `json:"session,omitempty"`
	Error   string `json:"error,omitempty"`
}

// PluginEnvAllowlist names the variables a forwarder may pass to the plugin:
// go-plugin's client-side handshake, never a path.
var PluginEnvAllowlist = []string{
	Handshake.MagicCookieKey,
	"PLUGIN_PROTOCOL_VERSIONS",
	ClientCertEnv,
	"PLUGIN_MULTIPLEX_GRPC",
	"PLUGIN_MIN_PORT",
	"PLUGIN_MAX_PORT",
}

// MaxEnvValue bounds one passed value (a PEM certificate is ~1 KiB).
const MaxEnvValue = 8 << 10

// FilterPluginEnv keeps the allowlisted variables from env, refusing values
// that are too long or carry NUL. The last occurrence of a name wins, as in
// exec.
func FilterPluginEnv(env []string) ([]string, error) {
	allowed := make(map[string]bool, len(PluginEnvAllowlist))
	for _, n := range PluginEnvAllowlist {
		allowed[n] = true
	}
	seen := map[string]int{}
	var out []string
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !allowed[name] {
			continue
		}
		if len(value) > MaxEnvValue || strings.ContainsRune(value, 0) {
			return nil, fmt.Errorf("%w: environment variable %s has a bad value", ErrInvalid, name)
		}
		if i, dup := seen[name]; dup {
			out[i] = kv
			continue
		}
		seen[name] = len(out)
		out = append(out, kv)
	}
	return out, nil
}

// ClientCertEnv carries the forwarder's AutoMTLS certificate to the plugin.
const ClientCertEnv = "PLUGIN_CLIENT_CERT"

// CheckClientCert checks that env (name=value pairs) carries a PEM client
// certificate. go-plugin serves plaintext gRPC when it has none, and then
// anyone who can reach the session socket could use the session, so the
// launcher refuses such a request and the plugin refuses to serve.
func CheckClientCert(env []string) error {
	var pemText string
	for _, kv := range env {
		if name, value, ok := strings.Cut(kv, "="); ok && name == ClientCertEnv {
			pemText = value // the last one wins, as in exec
		}
	}
	if pemText == "" {
		return fmt.Errorf("%w: the session request carries no client certificate (%s); the session socket needs mutual TLS: use kftray's helper client (go-plugin AutoMTLS)", ErrInvalid, ClientCertEnv)
	}
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("%w: %s is not a PEM certificate", ErrInvalid, ClientCertEnv)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, ClientCertEnv, err)
	}
	return nil
}
