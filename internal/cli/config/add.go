package config

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
)

// AddOptions are the inputs of `kftray config add`.
type AddOptions struct {
	Factory     *cmdutil.Factory
	Config      fwdconfig.Config
	Annotations []string // key=value
	JSON        bool
}

// NewCmdAdd builds `kftray config add`. runF replaces the run step in tests.
func NewCmdAdd(f *cmdutil.Factory, runF func(*cobra.Command, *AddOptions) error) *cobra.Command {
	opts := &AddOptions{Factory: f}
	c := &opts.Config
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add a port-forward config",
		Long: "Add a port-forward config. The workload type follows from --service (service),\n" +
			"--target (pod) or --remote-address (proxy) unless --workload-type says otherwise.",
		Example: `  # http://web.dev.test/ -> port 80 of Service web in namespace dev
  kftray config add --name web.dev.test --domain-enabled -n dev --service web --remote-port 80 --local-port 80

  # a pod chosen by label, on local port 5432
  kftray config add --name db -n data --target app=postgres --remote-port 5432 --local-port 5432

  # DNS over UDP through the cluster
  kftray config add --name dns --remote-address 10.0.0.10 --protocol udp --remote-port 53 --local-port 5353`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Config.HTTPLogsAutoCleanup, _ = cmd.Flags().GetBool("http-logs-auto-cleanup")
			if runF != nil {
				return runF(cmd, opts)
			}
			return runAdd(cmd, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.Alias, "name", "", "the config's name (kftray's alias); the hostname when --domain-enabled")
	fl.StringVar(&c.Alias, "alias", "", "same as --name")
	fl.StringVar(&c.Context, "context", "", "kubeconfig context (default: the current context)")
	fl.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fl.StringVarP(&c.Namespace, "namespace", "n", "default", "namespace")
	fl.StringVar(&c.WorkloadType, "workload-type", "", "service, pod, proxy or expose (default: from --service/--target/--remote-address)")
	fl.StringVar(&c.Protocol, "protocol", "tcp", "tcp or udp")
	fl.StringVar(&c.Service, "service", "", "Service name (workload type service)")
	fl.StringVar(&c.Target, "target", "", "pod label selector, e.g. app=web (workload type pod)")
	fl.StringVar(&c.RemoteAddress, "remote-address", "", "host or IP reached from the cluster (workload type proxy)")
	fl.IntVar(&c.RemotePort, "remote-port", 0, "port in the cluster (the Service port, pod port or remote port)")
	fl.StringVar(&c.LocalAddress, "local-address", "", "local IP to listen on (default 127.0.0.1)")
	fl.IntVar(&c.LocalPort, "local-port", 0, "local port (default: a free port picked at start)")
	fl.BoolVar(&c.AutoLoopbackAddress, "auto-loopback-address", false, "listen on an allocated loopback address of its own")
	fl.BoolVar(&c.DomainEnabled, "domain-enabled", false, "put the name in the hosts file as a hostname")
	fl.BoolVar(&c.HTTPLogsEnabled, "http-logs-enabled", false, "log HTTP traffic")
	fl.Int64Var(&c.HTTPLogsMaxFileSize, "http-logs-max-file-size", fwdconfig.DefaultHTTPLogsMaxFileSize, "HTTP log file size limit in bytes (1..104857600)")
	fl.IntVar(&c.HTTPLogsRetentionDays, "http-logs-retention-days", fwdconfig.DefaultHTTPLogsRetentionDays, "days to keep HTTP logs (1..365)")
	fl.Bool("http-logs-auto-cleanup", true, "delete HTTP logs older than the retention")
	fl.StringVar(&c.ExposureType, "exposure-type", "", "public or internal (workload type expose)")
	fl.BoolVar(&c.CertManagerEnabled, "cert-manager-enabled", false, "request a certificate from cert-manager (expose)")
	fl.StringVar(&c.CertIssuer, "cert-issuer", "", "cert-manager issuer name (expose)")
	fl.StringVar(&c.CertIssuerKind, "cert-issuer-kind", "", "Issuer or ClusterIssuer (expose)")
	fl.StringVar(&c.IngressClass, "ingress-class", "", "ingress class (expose)")
	fl.StringArrayVar(&opts.Annotations, "ingress-annotation", nil, "ingress annotation KEY=VALUE, repeatable (expose)")
	fl.BoolVar(&opts.JSON, "json", false, "print the added config as JSON")
	cmd.MarkFlagsMutuallyExclusive("name", "alias")
	return cmd
}

func runAdd(cmd *cobra.Command, opts *AddOptions) error {
	c := &opts.Config
	if c.WorkloadType == "" {
		var given []string
		for _, fw := range []struct{ flag, wt string }{
			{"service", fwdconfig.WorkloadService}, {"target", fwdconfig.WorkloadPod}, {"remote-address", fwdconfig.WorkloadProxy},
		} {
			if cmd.Flags().Changed(fw.flag) {
				given = append(given, "--"+fw.flag)
				c.WorkloadType = fw.wt
			}
		}
		switch len(given) {
		case 0:
			return cmdutil.FlagErrorf("say what to forward to: --service NAME, --target SELECTOR or --remote-address HOST (or --workload-type)")
		case 1:
		default:
			return cmdutil.FlagErrorf("%s are for different workload types; give one, or --workload-type", strings.Join(given, " and "))
		}
	}
	for _, a := range opts.Annotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return cmdutil.FlagErrorf("--ingress-annotation %q: want KEY=VALUE", a)
		}
		if c.IngressAnnotations == nil {
			c.IngressAnnotations = map[string]string{}
		}
		c.IngressAnnotations[k] = v
	}

	ctx := cmd.Context()
	s, err := opts.Factory.Store(ctx)
	if err != nil {
		return err
	}
	if err := s.AddConfig(ctx, c); err != nil {
		return err
	}
	opts.Factory.Logger().Info().Int64("id", c.ID).Str("alias", c.Alias).Msg("config added")
	if opts.JSON {
		return cmdutil.WriteJSON(opts.Factory.IO.Out, c)
	}
	_, err = fmt.Fprintf(opts.Factory.IO.Out, "added %s\n", describe(c))
	return err
}
