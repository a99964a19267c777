// Package relayserver is kftray-server, the relay kftray deploys into a cluster to
// reach what a port-forward cannot: UDP services and hosts that only the
// cluster can reach. In tcp mode each accepted stream is relayed to
// remote_address:remote_port; in udp mode each stream carries many UDP flows
// framed by package relaywire.
package relayserver

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/kftray-go/kftray/internal/envknob"
)

// Modes.
const (
	ModeTCP = "tcp"
	ModeUDP = "udp"
)

// Defaults.
const (
	DefaultLocalPort      = 8080
	DefaultHealthAddr     = ":8081"
	DefaultUDPIdleTimeout = 2 * time.Minute
	DefaultDialTimeout    = 10 * time.Second
	DefaultShutdownGrace  = 10 * time.Second
	DefaultMaxFlows       = 4096
)

// Config is everything the relay needs. The zero value of an optional field
// means its default.
type Config struct {
	Mode          string // ModeTCP or ModeUDP
	RemoteAddress string // host name or IP the relay forwards to
	RemotePort    int

	ListenAddr        string        // where forwarded streams arrive, e.g. ":8080"
	HealthAddr        string        // HTTP health endpoint; "" disables it
	UDPIdleTimeout    time.Duration // a UDP flow with no traffic either way for this long is dropped
	DialTimeout       time.Duration // to reach the remote in tcp mode / resolve it in udp mode
	ShutdownGrace     time.Duration // how long open streams may finish after SIGTERM
	MaxFlowsPerStream int           // cap on concurrent UDP flows one stream may open

	LogLevel string
}

// Remote returns the host:port the relay forwards to.
func (c Config) Remote() string {
	return net.JoinHostPort(c.RemoteAddress, strconv.Itoa(c.RemotePort))
}

func (c *Config) setDefaults() {
	if c.UDPIdleTimeout == 0 {
		c.UDPIdleTimeout = DefaultUDPIdleTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.MaxFlowsPerStream == 0 {
		c.MaxFlowsPerStream = DefaultMaxFlows
	}
}

// Validate reports the first bad setting, naming both its flag and its
// environment variable so the manifest or command line can be fixed.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeTCP, ModeUDP:
	case "":
		return fmt.Errorf("proxy type is not set: pass --mode tcp|udp or set %s", envknob.RelayProxyType)
	case "ssh":
		return fmt.Errorf("proxy type %q (--mode / %s) is kftray's reverse tunnel, which this relay does not implement; use tcp or udp", c.Mode, envknob.RelayProxyType)
	default:
		return fmt.Errorf("unknown proxy type %q (--mode / %s): use tcp or udp", c.Mode, envknob.RelayProxyType)
	}
	if c.RemoteAddress == "" {
		return fmt.Errorf("remote address is not set: pass --remote-address or set %s to the host the relay should reach", envknob.RelayRemoteAddress)
	}
	if c.RemotePort < 1 || c.RemotePort > 65535 {
		return fmt.Errorf("remote port %d (--remote-port / %s) is out of range 1-65535", c.RemotePort, envknob.RelayRemotePort)
	}
	if c.ListenAddr == "" {
		return errors.New("listen address is empty")
	}
	if c.UDPIdleTimeout < 0 {
		return fmt.Errorf("UDP idle timeout %s (--udp-idle-timeout / %s) must be positive", c.UDPIdleTimeout, envknob.RelayUDPIdleTimeout)
	}
	return nil
}

// ParseArgs builds a Config from command-line arguments over environment
// variables (kftray's REMOTE_ADDRESS, REMOTE_PORT, LOCAL_PORT, PROXY_TYPE and
// our KFTRAY_SERVER_*). Flags win over the environment. getenv is
// envknob.Get in the binary and a map in tests.
func ParseArgs(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := Config{
		Mode:          strings.ToLower(getenv(envknob.RelayProxyType)),
		RemoteAddress: getenv(envknob.RelayRemoteAddress),
		HealthAddr:    DefaultHealthAddr,
		LogLevel:      getenv(envknob.LogLevel),
	}
	envInt := func(name string, def int) (int, error) {
		v := getenv(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("environment variable %s=%q is not a port number", name, v)
		}
		return n, nil
	}
	var err error
	if c.RemotePort, err = envInt(envknob.RelayRemotePort, 0); err != nil {
		return Config{}, err
	}
	localPort, err := envInt(envknob.RelayLocalPort, DefaultLocalPort)
	if err != nil {
		return Config{}, err
	}
	if v := getenv(envknob.RelayHealthAddr); v != "" {
		c.HealthAddr = v
	}
	c.UDPIdleTimeout = DefaultUDPIdleTimeout
	if v := getenv(envknob.RelayUDPIdleTimeout); v != "" {
		if c.UDPIdleTimeout, err = time.ParseDuration(v); err != nil {
			return Config{}, fmt.Errorf("environment variable %s=%q is not a duration (try 2m or 30s)", envknob.RelayUDPIdleTimeout, v)
		}
	}

	fs := flag.NewFlagSet("kftray-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Mode, "mode", c.Mode, "relay mode: tcp or udp (env "+envknob.RelayProxyType+")")
	fs.StringVar(&c.RemoteAddress, "remote-address", c.RemoteAddress, "host the relay forwards to (env "+envknob.RelayRemoteAddress+")")
	fs.IntVar(&c.RemotePort, "remote-port", c.RemotePort, "port on the remote host (env "+envknob.RelayRemotePort+")")
	fs.IntVar(&localPort, "local-port", localPort, "port the relay listens on for forwarded streams (env "+envknob.RelayLocalPort+")")
	listenHost := fs.String("listen-address", "", "address to listen on (default all interfaces)")
	fs.StringVar(&c.HealthAddr, "health-addr", c.HealthAddr, "HTTP health endpoint address, empty to disable (env "+envknob.RelayHealthAddr+")")
	fs.DurationVar(&c.UDPIdleTimeout, "udp-idle-timeout", c.UDPIdleTimeout, "drop a UDP flow after this long without traffic (env "+envknob.RelayUDPIdleTimeout+")")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", DefaultShutdownGrace, "time open streams get to finish after SIGTERM")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error (env "+envknob.LogLevel+")")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: kftray-server takes only flags", fs.Arg(0))
	}
	if localPort < 0 || localPort > 65535 {
		return Config{}, fmt.Errorf("local port %d (--local-port / %s) is out of range 0-65535", localPort, envknob.RelayLocalPort)
	}
	c.Mode = strings.ToLower(c.Mode)
	c.ListenAddr = net.JoinHostPort(*listenHost, strconv.Itoa(localPort))
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
