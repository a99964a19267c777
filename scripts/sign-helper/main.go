// Command sign-helper signs a kftray-helper binary for `kftray helper
// install`. The signature is minisign's: the trusted comment binds the
// helper's name, version, os, arch and sha256, so a signed helper cannot be
// installed as another version or on another platform.
//
// Release (key kept offline, usually password-protected; needs minisign):
//
//	go run ./scripts/sign-helper -key /secure/kftray-helper.key -version v1.2.0 dist/kftray-helper-linux-amd64
//
// Local development (creates a key under .dev-keys/ on first use):
//
//	go run ./scripts/sign-helper -dev -version v0.0.0-dev ./kftray-helper
//
// It prints the -ldflags that build a kftray trusting that key.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/kftray-go/kftray/helper/install"
	"github.com/kftray-go/kftray/helper/minisign"
)

const devKeyDir = ".dev-keys"

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sign-helper:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sign-helper", flag.ContinueOnError)
	keyPath := fs.String("key", "", "minisign secret key (encrypted keys are signed with the minisign tool)")
	dev := fs.Bool("dev", false, "use (and create if missing) the local development key in "+devKeyDir+"/")
	version := fs.String("version", "", "helper version the signature binds (required)")
	goos := fs.String("os", runtime.GOOS, "target GOOS the binary was built for")
	goarch := fs.String("arch", runtime.GOARCH, "target GOARCH the binary was built for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *version == "" || (*keyPath == "") == !*dev {
		fs.Usage()
		return errors.New("want one binary, -version, and exactly one of -key or -dev")
	}
	bin := fs.Arg(0)
	if *dev {
		p, err := devKey()
		if err != nil {
			return err
		}
		*keyPath = p
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	comment := install.TrustedComment(*version, *goos, *goarch, hex.EncodeToString(sum[:]))
	raw, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	sk, err := minisign.ParsePrivateKey(raw)
	if err != nil {
		// Password-protected keys: let minisign ask for the password.
		tool, lerr := exec.LookPath("minisign")
		if lerr != nil {
			return fmt.Errorf("%w (and minisign is not installed)", err)
		}
		cmd := exec.Command(tool, "-S", "-s", *keyPath, "-m", bin, "-x", bin+".minisig", "-t", comment)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("minisign -S: %w", err)
		}
	} else {
		sig, err := minisign.Sign(sk, data, comment, "kftray-helper signature")
		if err != nil {
			return err
		}
		if err := os.WriteFile(bin+".minisig", sig, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "build kftray with:\n  -ldflags \"-X github.com/kftray-go/kftray/helper/install.DevPublicKey=%s\"\n", sk.Public().String())
	}
	fmt.Fprintf(stdout, "signed %s -> %s.minisig\n  trusted comment: %s\n", bin, bin, comment)
	return nil
}

// devKey returns the local development key, creating it once.
func devKey() (string, error) {
	p := filepath.Join(devKeyDir, "kftray-helper-dev.key")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if err := os.MkdirAll(devKeyDir, 0o700); err != nil {
		return "", err
	}
	pub, sk, err := minisign.GenerateKey()
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(p, sk.Marshal(), 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(devKeyDir, "kftray-helper-dev.pub"), pub.Marshal(), 0o644); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "created development key %s (never use it for releases)\n", p)
	return p, nil
}
