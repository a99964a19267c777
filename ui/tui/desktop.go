package tui

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// SystemDesktop is the Desktop of the machine kftui runs on.
type SystemDesktop struct{}

// OpenURL starts the platform's opener (openers, per OS file) on url and
// does not wait for the browser.
func (SystemDesktop) OpenURL(url string) error {
	for _, o := range openers {
		p, err := exec.LookPath(o)
		if err != nil {
			continue
		}
		cmd := exec.Command(p, url)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("opening %s with %s: %w", url, o, err)
		}
		go func() { _ = cmd.Wait() }()
		return nil
	}
	return fmt.Errorf("no program to open %s found (looked for %s); open it yourself", url, strings.Join(openers, ", "))
}

// Copy pipes s into the first clipboard tool (clipboardTools, per OS file)
// that takes it.
func (SystemDesktop) Copy(s string) error {
	var errs []error
	for _, t := range clipboardTools {
		p, err := exec.LookPath(t[0])
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		cmd := exec.CommandContext(ctx, p, t[1:]...)
		cmd.Stdin = strings.NewReader(s)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %v %s", t[0], err, strings.TrimSpace(string(out))))
	}
	if len(errs) == 0 {
		names := make([]string, len(clipboardTools))
		for i, t := range clipboardTools {
			names[i] = t[0]
		}
		return fmt.Errorf("no clipboard tool found (looked for %s)", strings.Join(names, ", "))
	}
	return errors.Join(errs...)
}
