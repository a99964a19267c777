// Command kftray-helper is the root helper of kftray: `service` is the
// launcher behind /run/kftray-helper/helper.sock, `plugin` is one forwarder
// session (started by the launcher only), `cleanup` sweeps the hosts block.
// Install it with `sudo kftray helper install`; it is never setuid.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/helper/launcher"
	"github.com/kftray-go/kftray/helper/session"
	"github.com/kftray-go/kftray/internal/envknob"
)

const usage = `usage: kftray-helper <command> [flags]

commands:
  service   run the launcher (systemd/launchd start this as root)
  plugin    serve one session (started by the launcher only)
  cleanup   remove every kftray line from the hosts file and free addresses
  version   print the version
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kftray-helper:", err)
		os.Exit(1)
	}
}

func logger() zerolog.Logger {
	lvl, err := zerolog.ParseLevel(envknob.Get(envknob.LogLevel))
	if err != nil || lvl == zerolog.NoLevel {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Logger()
}

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("missing command")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	socket := fs.String("socket", config.DefaultSocket, "launcher socket")
	cfgPath := fs.String("config", config.DefaultPath, "root-owned helper config")
	hostsPath := fs.String("hosts", config.DefaultHosts, "hosts file to manage")
	runDir := fs.String("run-dir", config.DefaultRunDir, "root-owned runtime directory")
	uid := fs.Uint("uid", 0, "plugin: the session's uid (set by the launcher)")
	sess := fs.String("session", "", "plugin: the session id (set by the launcher)")
	switch cmd {
	case "service", "plugin", "cleanup":
	case "version":
		v, err := session.SelfVersion()
		if err != nil {
			return err
		}
		fmt.Printf("kftray-helper %s %s/%s sha256:%s protocol %d\n", v.Version, v.OS, v.Arch, v.SHA256, v.Protocol)
		return nil
	case "-h", "--help", "help":
		fmt.Print(usage)
		return nil
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := logger()
	switch cmd {
	case "plugin":
		return session.ServePlugin(session.PluginOptions{
			UID: uint32(*uid), Session: *sess, ConfigPath: *cfgPath, HostsPath: *hostsPath, RunDir: *runDir, Log: log,
		})
	case "cleanup":
		return launcher.Cleanup(context.Background(), launcher.Options{ConfigPath: *cfgPath, HostsPath: *hostsPath, RunDir: *runDir, Log: log})
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info().Int("pid", os.Getpid()).Msg("starting")
	return launcher.Run(ctx, launcher.Options{Socket: *socket, ConfigPath: *cfgPath, HostsPath: *hostsPath, RunDir: *runDir, Log: log})
}
