package main

import (
	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func runUpstream(cmd *cobra.Command, args []string) int {
	cmd.SetArgs(args)
	return cli.Run(cmd)
}

func runAPIServer(args []string) int {
	return runUpstream(apiserver.NewAPIServerCommand(), args)
}

func runControllerManager(args []string) int {
	return runUpstream(controllermanager.NewControllerManagerCommand(), args)
}

func runScheduler(args []string) int {
	return runUpstream(scheduler.NewSchedulerCommand(), args)
}
