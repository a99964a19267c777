package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/fwdconfig"
)

// Config ids in the engine child.
const (
	idWebHTTP, idWebEcho, idRec = 1, 2, 3 // WebSocket group; SPDY adds 10
	idPrivEcho, idPrivHTTP      = 21, 22  // helper-bound, WebSocket
)

type bench struct {
	p   params
	c   *cluster.Cluster
	res *Results
	ns  string
	tmp string

	webPod     string
	http, echo map[string]string // target → local address
	recAddr    map[string]string // kftray target → address of its rec forward
	eng        *engineProc
	daemons    map[string]*daemonProc // tDaemon, tDaemonSetsid, tDaemonFG
	kubectl    map[string]*kubectlPF
	helper     *helperService
	privEcho   string
	privHTTP   string
}

func (b *bench) close() {
	for _, k := range b.kubectl {
		k.stop()
	}
	if b.eng != nil {
		b.eng.stop()
	}
	for _, d := range b.daemons {
		d.stop()
	}
	if b.helper != nil {
		b.helper.stop()
	}
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

func (b *bench) cfg(id int64, svc string, port int) fwdconfig.Config {
	return fwdconfig.Config{ID: id, Alias: fmt.Sprintf("%s-%d", svc, id), Kubeconfig: b.c.Kubeconfig, Context: b.c.Context,
		Namespace: b.ns, WorkloadType: "service", Protocol: "tcp", Service: svc, RemotePort: port}
}

func (b *bench) setup(ctx context.Context) error {
	var err error
	if b.tmp, err = os.MkdirTemp("", "bench-"); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := b.c.CreateNamespace(sctx, b.ns); err != nil {
		return err
	}
	apps := []cluster.App{cluster.WebApp(1), {Name: "rec"}}
	if !b.p.skipped("scale") {
		for i := range b.p.scaleSvcs {
			apps = append(apps, cluster.App{Name: fmt.Sprintf("s-%d", i)})
		}
	}
	progress("deploying %d apps", len(apps))
	for _, a := range apps {
		if err := b.c.Deploy(sctx, b.ns, a); err != nil {
			return err
		}
	}
	for _, a := range apps {
		if _, err := b.c.ReadyPods(sctx, b.ns, a.Name, 1); err != nil {
			return err
		}
	}
	pods, err := b.c.ReadyPods(sctx, b.ns, "web", 1)
	if err != nil {
		return err
	}
	b.webPod = pods[0]
	pb, err := b.c.Pod(sctx, b.ns, b.webPod)
	if err != nil {
		return err
	}
	b.http, b.echo, b.recAddr = map[string]string{}, map[string]string{}, map[string]string{}
	for _, be := range pb.Backends {
		switch be.Port {
		case 8080:
			b.http[tDirect] = be.Address
		case 9000:
			b.echo[tDirect] = be.Address
		}
	}
	if b.http[tDirect] == "" || b.echo[tDirect] == "" {
		return fmt.Errorf("pod %s: backends %+v lack ports 8080 and 9000", b.webPod, pb.Backends)
	}

	if !b.p.skipped("priv") {
		progress("starting the root helper service (privileged path)")
		if b.helper, err = startHelper(sctx, b.p.helperBin); err != nil {
			b.res.note("privileged path not measured: %v", err)
			progress("privileged path not measured: %v", err)
			b.helper = nil
		}
	}

	progress("starting kftray (engine child) and kubectl port-forwards")
	if b.eng, err = startEngine(filepath.Join(b.tmp, "engine.log")); err != nil {
		return err
	}
	groups := []engineGroup{
		{Transport: tunnel.WebSocket, Configs: []fwdconfig.Config{b.cfg(idWebHTTP, "web", 80), b.cfg(idWebEcho, "web", 9000), b.cfg(idRec, "rec", 80)}},
		{Transport: tunnel.SPDY, Configs: []fwdconfig.Config{b.cfg(idWebHTTP+10, "web", 80), b.cfg(idWebEcho+10, "web", 9000), b.cfg(idRec+10, "rec", 80)}},
	}
	if b.helper != nil {
		pe, ph := b.cfg(idPrivEcho, "web", 9000), b.cfg(idPrivHTTP, "web", 80)
		pe.AutoLoopbackAddress, pe.LocalPort = true, 80
		ph.AutoLoopbackAddress, ph.LocalPort = true, 80
		groups = append(groups, engineGroup{Transport: tunnel.WebSocket, HelperSocket: b.helper.socket, Configs: []fwdconfig.Config{pe, ph}})
	}
	rep, err := b.eng.do(engineCmd{Cmd: "start", Groups: groups}, 3*time.Minute)
	if err != nil {
		return fmt.Errorf("start kftray forwards: %w (log %s)", err, filepath.Join(b.tmp, "engine.log"))
	}
	b.http[tKftrayWS], b.echo[tKftrayWS], b.recAddr[tKftrayWS] = rep.Addrs[idWebHTTP], rep.Addrs[idWebEcho], rep.Addrs[idRec]
	b.http[tKftraySPDY], b.echo[tKftraySPDY], b.recAddr[tKftraySPDY] = rep.Addrs[idWebHTTP+10], rep.Addrs[idWebEcho+10], rep.Addrs[idRec+10]
	b.privEcho, b.privHTTP = rep.Addrs[idPrivEcho], rep.Addrs[idPrivHTTP]

	if err := b.startDaemons(sctx); err != nil {
		return err
	}

	b.kubectl = map[string]*kubectlPF{}
	for _, t := range []string{tKubectlWS, tKubectlSPDY} {
		if err := b.startWebKubectl(sctx, t); err != nil {
			return err
		}
	}
	// Every target must reach the one web pod before anything is measured.
	for _, t := range targets {
		if err := b.expectPod(sctx, b.http[t], b.webPod); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		if _, err := bulkEcho(b.echo[t], mib); err != nil {
			return fmt.Errorf("%s echo warm-up: %w", t, err)
		}
	}
	if b.privHTTP != "" {
		if err := b.expectPod(sctx, b.privHTTP, b.webPod); err != nil {
			return fmt.Errorf("helper-bound forward: %w", err)
		}
	}
	progress("ready: %v", b.http)
	return nil
}

// startDaemons starts the real kftray daemon three times, each with its own
// config directory: as `kftray start` spawns it (what users run), detached
// with setsid as it was before issue 22, and in the foreground as a plain
// child of the bench.
func (b *bench) startDaemons(ctx context.Context) error {
	progress("building kftray and starting its daemon (as kftray start spawns it, in a session of its own, and in the foreground)")
	bin, err := buildKftray(ctx, b.tmp)
	if err != nil {
		return err
	}
	b.daemons = map[string]*daemonProc{}
	web := func(id int64, port int) fwdconfig.Config { return b.cfg(id, "web", port) }
	for t, mode := range map[string]daemonMode{tDaemon: asShipped, tDaemonSetsid: setsidDetached, tDaemonFG: foreground} {
		d, err := startDaemon(ctx, bin, filepath.Join(b.tmp, t), mode, web)
		if err != nil {
			return err
		}
		b.daemons[t] = d
		b.http[t], b.echo[t] = d.http, d.echo
		b.res.note("%s: transport %s; %s (bench: %s)", t, d.transport, schedInfo(d.pid), schedInfo(os.Getpid()))
		progress("%s: transport %s; %s", t, d.transport, schedInfo(d.pid))
	}
	return nil
}

func (b *bench) startWebKubectl(ctx context.Context, t string) error {
	k, err := startKubectl(ctx, b.p.kubectl, b.c.Kubeconfig, b.c.Context, b.ns, t == tKubectlWS, "svc/web", "80", "9000")
	if err != nil {
		return fmt.Errorf("%s: %w", t, err)
	}
	b.kubectl[t] = k
	b.http[t], b.echo[t] = k.addrs["8080"], k.addrs["9000"]
	if b.http[t] == "" || b.echo[t] == "" {
		return fmt.Errorf("%s: unexpected forwards %v", t, k.addrs)
	}
	return nil
}

// ensureKubectl restarts a kubectl that exited (kubectl port-forward exits
// on any stream error) and notes it.
func (b *bench) ensureKubectl(ctx context.Context, t, phase string) {
	k := b.kubectl[t]
	if k == nil {
		return
	}
	select {
	case <-k.exited:
	default:
		return
	}
	b.res.note("%s exited during or before %s (%q) and was restarted", t, phase, k.lastErrLine())
	progress("%s exited (%s); restarting", t, k.lastErrLine())
	if err := b.startWebKubectl(ctx, t); err != nil {
		b.res.note("restart %s: %v", t, err)
	}
}

// expectPod waits (bounded) until addr answers as pod.
func (b *bench) expectPod(ctx context.Context, addr, pod string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		name, err := whoami(actx, addr)
		cancel()
		if err == nil && name == pod {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer as pod %s after 60s: %q %v", addr, pod, name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fwdPID is the process doing the forwarding for a target (0 for direct).
func (b *bench) fwdPID(t string) int {
	switch t {
	case tKubectlWS, tKubectlSPDY:
		return b.kubectl[t].pid()
	case tKftrayWS, tKftraySPDY:
		return b.eng.pid()
	case tDaemon, tDaemonSetsid, tDaemonFG:
		return b.daemons[t].pid
	}
	return 0
}

type cpuSnap struct {
	fwd, api, kubelet time.Duration
	sched             schedStat // the forwarder's threads
}

func (b *bench) cpu(t string) cpuSnap {
	pids := b.c.PIDs()
	s := cpuSnap{api: cpuTime(pids["kube-apiserver"]), kubelet: cpuTime(pids["kubelet"])}
	if pid := b.fwdPID(t); pid != 0 {
		s.fwd = cpuTime(pid)
		s.sched = readSchedStat(pid)
	}
	return s
}

func (b *bench) rep(ctx context.Context, rep int) error {
	// Rotate the order each repetition so slow drifts in the machine's load
	// do not always land on the same target.
	order := slices.Clone(targets)
	for range (rep - 1) % len(order) {
		order = append(order[1:], order[0])
	}
	p := b.p
	if !p.skipped("bulk") {
		for _, t := range order {
			b.ensureKubectl(ctx, t, "bulk")
			before := b.cpu(t)
			v, err := bulkEcho(b.echo[t], p.bulkSize)
			after := b.cpu(t)
			if err != nil {
				b.fail(rep, "bulk", t, err)
				continue
			}
			b.res.add("bulk", t, v)
			if t != tDirect {
				gib := 2 * float64(p.bulkSize) / (1 << 30)
				b.res.add("cpu_bulk_fwd", t, (after.fwd-before.fwd).Seconds()/gib)
				b.res.add("cpu_bulk_api", t, (after.api-before.api).Seconds()/gib)
				b.res.add("cpu_bulk_kubelet", t, (after.kubelet-before.kubelet).Seconds()/gib)
				sd := after.sched.sub(before.sched)
				b.res.add("sched_bulk_wait", t, sd.wait.Seconds()/gib)
				b.res.add("sched_bulk_slices", t, float64(sd.slices)/gib/1000)
			}
			progress("rep %d bulk %-12s %8.1f MiB/s", rep, t, v)
		}
	}
	if !p.skipped("newconn") {
		for _, t := range order {
			b.ensureKubectl(ctx, t, "newconn")
			before := b.cpu(t)
			lats, fails, err := newConnLatency(b.http[t], p.newConnN)
			after := b.cpu(t)
			if t != tDirect && len(lats) > 0 {
				b.res.add("cpu_newconn_fwd", t, 1000*(after.fwd-before.fwd).Seconds()/float64(len(lats)))
			}
			if err != nil {
				b.fail(rep, "newconn", t, err)
				if len(lats) < p.newConnN/2 {
					continue
				}
			}
			_ = fails
			b.res.add("newconn_p50", t, percentile(lats, 50))
			b.res.add("newconn_p99", t, percentile(lats, 99))
			progress("rep %d newconn %-12s p50 %.3f ms p99 %.3f ms", rep, t, percentile(lats, 50), percentile(lats, 99))
		}
	}
	if !p.skipped("newconn") {
		create, request, err := b.streamDiag(p.privNewConn)
		if err != nil {
			b.res.note("stream diagnosis, repetition %d: %v", rep, err)
		} else {
			b.res.add("diag_create", tKubectlSPDY, percentile(create, 50))
			b.res.add("diag_request", tKubectlSPDY, percentile(request, 50))
			progress("rep %d streams (client-go spdy): create pair p50 %.3f ms, GET on a fresh pair p50 %.3f ms", rep, percentile(create, 50), percentile(request, 50))
		}
	}
	if !p.skipped("keepalive") {
		for _, n := range []int{1, 32} {
			for _, t := range order {
				b.ensureKubectl(ctx, t, "keepalive")
				before := b.cpu(t)
				rps, lats, err := keepAlive(b.http[t], n, p.kaDur)
				after := b.cpu(t)
				if err != nil {
					b.fail(rep, fmt.Sprintf("keepalive-%d", n), t, err)
					continue
				}
				k := fmt.Sprintf("ka%d", n)
				b.res.add(k+"_rps", t, rps)
				b.res.add(k+"_p50", t, percentile(lats, 50))
				b.res.add(k+"_p99", t, percentile(lats, 99))
				if n == 32 && t != tDirect && len(lats) > 0 {
					b.res.add("cpu_ka32_fwd", t, (after.fwd-before.fwd).Seconds()*10000/float64(len(lats)))
					sd := after.sched.sub(before.sched)
					b.res.add("sched_ka32_run", t, sd.run.Seconds()*10000/float64(len(lats)))
					b.res.add("sched_ka32_wait", t, sd.wait.Seconds()*10000/float64(len(lats)))
					b.res.add("sched_ka32_slices", t, float64(sd.slices)/float64(len(lats)))
				}
				progress("rep %d keepalive x%-2d %-12s %8.0f req/s p50 %.3f ms p99 %.3f ms", rep, n, t, rps, percentile(lats, 50), percentile(lats, 99))
			}
		}
	}
	if !p.skipped("concurrent") {
		for _, t := range order {
			b.ensureKubectl(ctx, t, "concurrent")
			total, times, fails, err := concurrent(b.http[t], p.concN, p.concSize)
			if err != nil {
				b.fail(rep, "concurrent", t, err)
			}
			b.res.add("conc_failed", t, float64(fails))
			if fails == 0 && len(times) > 0 {
				b.res.add("conc_total", t, ms(total))
				b.res.add("conc_fair", t, float64(slices.Max(times))/float64(slices.Min(times)))
			}
			progress("rep %d concurrent %-12s %d/%d ok, total %v", rep, t, len(times), p.concN, total.Round(time.Millisecond))
		}
	}
	if !p.skipped("priv") && b.helper != nil {
		if err := b.priv(ctx, rep); err != nil {
			b.res.note("privileged path, repetition %d: %v", rep, err)
		}
	}
	if !p.skipped("recovery") {
		if err := b.recovery(ctx, rep); err != nil {
			return fmt.Errorf("recovery: %w", err)
		}
	}
	if !p.skipped("scale") {
		if err := b.scale(ctx, rep); err != nil {
			b.res.note("scale, repetition %d: %v", rep, err)
			progress("scale failed: %v", err)
		}
	}
	return nil
}

func (b *bench) fail(rep int, phase, t string, err error) {
	b.res.note("%s %s failed in repetition %d: %v", phase, t, rep, err)
	progress("rep %d %s %s FAILED: %v", rep, phase, t, err)
}

// priv compares a forward whose listener the root helper bound (an
// allocated loopback address, port 80, fd passed back) with the same
// forward on a directly bound high port, back to back.
func (b *bench) priv(ctx context.Context, rep int) error {
	if b.privEcho == "" || b.privHTTP == "" {
		return errors.New("no helper-bound forwards")
	}
	h, err := bulkEcho(b.privEcho, b.p.bulkSize)
	if err != nil {
		return err
	}
	d, err := bulkEcho(b.echo[tKftrayWS], b.p.bulkSize)
	if err != nil {
		return err
	}
	b.res.add("priv_bulk", tKftrayWS, h)
	b.res.add("priv_bulk_ref", tKftrayWS, d)
	b.res.add("priv_ratio", tKftrayWS, h/d)
	hl, _, err := newConnLatency(b.privHTTP, b.p.privNewConn)
	if err != nil {
		return err
	}
	dl, _, err := newConnLatency(b.http[tKftrayWS], b.p.privNewConn)
	if err != nil {
		return err
	}
	b.res.add("priv_newconn_p50", tKftrayWS, percentile(hl, 50))
	b.res.add("priv_newconn_ref", tKftrayWS, percentile(dl, 50))
	progress("rep %d privileged: helper-bound %s %.1f MiB/s vs direct bind %.1f MiB/s (%.2f); new conn p50 %.3f vs %.3f ms",
		rep, b.privEcho, h, d, h/d, percentile(hl, 50), percentile(dl, 50))
	return nil
}

// recovery deletes the pod behind the rec service and times, for kftray,
// the first successful new connection to the replacement (from the
// deletion and from the replacement becoming ready), and for kubectl the
// time until it exits (it does not recover).
func (b *bench) recovery(ctx context.Context, rep int) error {
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	pods, err := b.c.ReadyPods(rctx, b.ns, "rec", 1)
	if err != nil {
		return err
	}
	old := pods[0]
	for _, t := range []string{tKftrayWS, tKftraySPDY} {
		if err := b.expectPod(rctx, b.recAddr[t], old); err != nil {
			return fmt.Errorf("%s before the deletion: %w", t, err)
		}
	}
	addrs := map[string]string{tKftrayWS: b.recAddr[tKftrayWS], tKftraySPDY: b.recAddr[tKftraySPDY]}
	kubectls := map[string]*kubectlPF{}
	for _, t := range []string{tKubectlWS, tKubectlSPDY} {
		k, err := startKubectl(rctx, b.p.kubectl, b.c.Kubeconfig, b.c.Context, b.ns, t == tKubectlWS, "svc/rec", "80")
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		defer k.stop()
		kubectls[t] = k
		addrs[t] = k.addrs["8080"]
		if err := b.expectPod(rctx, addrs[t], old); err != nil {
			return fmt.Errorf("%s before the deletion: %w", t, err)
		}
	}

	w, err := b.c.Client.DiscoveryV1().EndpointSlices(b.ns).Watch(rctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=rec"})
	if err != nil {
		return err
	}
	defer w.Stop()
	readyAt := make(chan time.Time, 1)
	go func() {
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok {
				continue
			}
			for _, e := range s.Endpoints {
				if e.TargetRef != nil && e.TargetRef.Name != old && e.Conditions.Ready != nil && *e.Conditions.Ready {
					readyAt <- time.Now()
					return
				}
			}
		}
	}()

	type outcome struct {
		t      string
		at     time.Time
		pod    string
		exited bool
		err    error
	}
	results := make(chan outcome, len(addrs))
	t0 := time.Now()
	if err := b.c.Client.CoreV1().Pods(b.ns).Delete(rctx, old, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		return fmt.Errorf("delete pod %s: %w", old, err)
	}
	for t, addr := range addrs {
		k := kubectls[t]
		go func() {
			for time.Since(t0) < 60*time.Second {
				if k != nil {
					select {
					case <-k.exited:
						k.mu.Lock()
						at := k.exitAt
						k.mu.Unlock()
						results <- outcome{t: t, at: at, exited: true, err: errors.New(k.lastErrLine())}
						return
					default:
					}
				}
				actx, cancel := context.WithTimeout(rctx, 10*time.Second)
				name, err := whoami(actx, addr)
				cancel()
				if err == nil && name != old {
					results <- outcome{t: t, at: time.Now(), pod: name}
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
			results <- outcome{t: t, err: errors.New("no successful connection to a replacement within 60s")}
		}()
	}
	var outs []outcome
	for range addrs {
		outs = append(outs, <-results)
	}
	var ready time.Time
	select {
	case ready = <-readyAt:
	case <-time.After(60 * time.Second):
		return errors.New("no ready replacement endpoint within 60s of the deletion")
	}
	for _, o := range outs {
		switch {
		case o.exited:
			b.res.add("kubectl_exit", o.t, ms(o.at.Sub(t0)))
			b.res.note("kubectl port-forward exits when its pod is deleted (%s: %q); it does not recover", o.t, o.err)
			progress("rep %d recovery %-12s exited %v after the deletion", rep, o.t, o.at.Sub(t0).Round(time.Millisecond))
		case o.err != nil:
			b.res.note("recovery %s, repetition %d: %v", o.t, rep, o.err)
			progress("rep %d recovery %-12s FAILED: %v", rep, o.t, o.err)
		default:
			b.res.add("recovery_delete", o.t, ms(o.at.Sub(t0)))
			b.res.add("recovery_ready", o.t, ms(o.at.Sub(ready)))
			progress("rep %d recovery %-12s %v after the deletion, %v after the replacement was ready", rep, o.t,
				o.at.Sub(t0).Round(time.Millisecond), o.at.Sub(ready).Round(time.Millisecond))
		}
	}
	return nil
}

// scale starts N forwards at once in a fresh engine child and times them
// to running; RSS per forward compares it with a child running one.
func (b *bench) scale(ctx context.Context, rep int) error {
	n := b.p.scaleN
	one, err := startEngine(filepath.Join(b.tmp, "scale-1.log"))
	if err != nil {
		return err
	}
	rss0, _ := rssKiB(one.pid())
	r1, err := one.do(engineCmd{Cmd: "start", Groups: []engineGroup{{Configs: []fwdconfig.Config{b.cfg(1, "s-0", 80)}}}}, 2*time.Minute)
	if err != nil {
		one.stop()
		return fmt.Errorf("one forward: %w", err)
	}
	if _, err := whoami(ctx, r1.Addrs[1]); err != nil {
		one.stop()
		return fmt.Errorf("one forward: request: %w", err)
	}
	g1, _ := one.do(engineCmd{Cmd: "gc"}, time.Minute)
	time.Sleep(time.Second)
	rss1, err := rssKiB(one.pid())
	one.stop()
	if err != nil {
		return err
	}

	many, err := startEngine(filepath.Join(b.tmp, "scale-n.log"))
	if err != nil {
		return err
	}
	defer many.stop()
	cfgs := make([]fwdconfig.Config, n)
	for i := range cfgs {
		cfgs[i] = b.cfg(int64(i+1), fmt.Sprintf("s-%d", i%b.p.scaleSvcs), 80)
	}
	r, err := many.do(engineCmd{Cmd: "start", Groups: []engineGroup{{Configs: cfgs}}, Timeout: 2 * time.Minute}, 3*time.Minute)
	if err != nil {
		return fmt.Errorf("%d forwards: %w (phases %v)", n, err, r.Phases)
	}
	// Idle: running, no connection carried yet.
	gi, _ := many.do(engineCmd{Cmd: "gc"}, time.Minute)
	time.Sleep(time.Second)
	rssIdle, err := rssKiB(many.pid())
	if err != nil {
		return err
	}
	// Every forward must actually carry a connection (not timed).
	failed := 0
	for id, addr := range r.Addrs {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := whoami(actx, addr)
		cancel()
		if err != nil {
			failed++
			if failed == 1 {
				b.res.note("scale: forward %d (%s) failed a request: %v", id, addr, err)
			}
		}
	}
	if failed > 0 {
		b.res.note("scale, repetition %d: %d of %d forwards failed a request after reaching running", rep, failed, n)
	}
	gn, _ := many.do(engineCmd{Cmd: "gc"}, time.Minute)
	if b.p.profile != "" && rep == 1 {
		path, _ := filepath.Abs(filepath.Join(b.p.profile, fmt.Sprintf("kftray-scale-%d-heap.pprof", n)))
		if err := os.MkdirAll(b.p.profile, 0o755); err == nil {
			if _, err := many.do(engineCmd{Cmd: "heap-profile", Path: path}, time.Minute); err == nil {
				b.res.Profiles = append(b.res.Profiles, path)
			}
		}
	}
	time.Sleep(time.Second)
	rssN, err := rssKiB(many.pid())
	if err != nil {
		return err
	}
	if n > 1 {
		b.res.add("scale_rss_idle_fwd", tKftrayWS, float64(rssIdle-rss1)/float64(n-1))
		b.res.add("scale_heap_idle_fwd", tKftrayWS, (float64(gi.HeapInuse)-float64(g1.HeapInuse))/1024/float64(n-1))
	}
	b.res.add("scale_ready", tKftrayWS, r.ReadyMS)
	b.res.add("scale_rss_total", tKftrayWS, float64(rssN)/1024)
	if n > 1 {
		b.res.add("scale_rss_fwd", tKftrayWS, float64(rssN-rss1)/float64(n-1))
		b.res.add("scale_heap_fwd", tKftrayWS, (float64(gn.HeapInuse)-float64(g1.HeapInuse))/1024/float64(n-1))
	}
	b.res.note("scale, repetition %d: engine RSS with no forward %d KiB, with 1 forward %d KiB, with %d forwards %d KiB before any connection and %d KiB after one connection each (%d goroutines); forwards over %d services, default transport (WebSocket); the 1-forward child carried one connection",
		rep, rss0, rss1, n, rssIdle, rssN, gn.Goroutine, b.p.scaleSvcs)
	progress("rep %d scale: %d forwards running in %.0f ms (listening in %.0f ms); RSS %d KiB idle, %d KiB after one connection each (1 forward: %d KiB) → %.0f / %.0f KiB per forward",
		rep, n, r.ReadyMS, r.StartedMS, rssIdle, rssN, rss1, float64(rssIdle-rss1)/float64(max(n-1, 1)), float64(rssN-rss1)/float64(max(n-1, 1)))
	return nil
}

// profilePass records CPU profiles of the kftray engine during bulk,
// new-connection and 32-connection keep-alive runs (not recorded as
// results: profiling costs a little).
func (b *bench) profilePass(ctx context.Context) error {
	if err := os.MkdirAll(b.p.profile, 0o755); err != nil {
		return err
	}
	for _, t := range []string{tKftrayWS, tKftraySPDY} {
		for _, phase := range []string{"bulk", "newconn", "ka32"} {
			path, _ := filepath.Abs(filepath.Join(b.p.profile, fmt.Sprintf("%s-%s.pprof", t, phase)))
			if _, err := b.eng.do(engineCmd{Cmd: "profile-start", Path: path}, time.Minute); err != nil {
				return err
			}
			var err error
			switch phase {
			case "bulk":
				_, err = bulkEcho(b.echo[t], b.p.bulkSize)
			case "newconn":
				_, _, err = newConnLatency(b.http[t], b.p.newConnN)
			case "ka32":
				_, _, err = keepAlive(b.http[t], 32, b.p.kaDur)
			}
			if _, perr := b.eng.do(engineCmd{Cmd: "profile-stop"}, time.Minute); perr != nil {
				return perr
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", t, phase, err)
			}
			b.res.Profiles = append(b.res.Profiles, path)
			progress("profile %s", path)
		}
	}
	return nil
}
