package fwdconfig

import (
	"fmt"
	"strings"
)

// Kubernetes name rules, as k8s.io/apimachinery/pkg/util/validation states
// them, written out so that this package stays a leaf (see doc.go).
// TestNamesMatchApimachinery holds them to apimachinery's answers.

const (
	maxLabelLen     = 63  // DNS label, label key name, label value
	maxSubdomainLen = 253 // DNS subdomain
)

func isLower(b byte) bool { return b >= 'a' && b <= 'z' }
func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isAlnum(b byte) bool { return isLower(b) || isDigit(b) || (b >= 'A' && b <= 'Z') }

// dns1123Label matches [a-z0-9]([-a-z0-9]*[a-z0-9])?, length not checked.
func dns1123Label(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLower(s[i]) && !isDigit(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// dns1123Subdomain matches dns1123Label joined by dots, length not
// checked (apimachinery bounds only the whole name).
func dns1123Subdomain(s string) bool {
	for l := range strings.SplitSeq(s, ".") {
		if !dns1123Label(l) {
			return false
		}
	}
	return true
}

// checkDNS1123Label returns why s is not an RFC 1123 label (a namespace
// name), or "".
func checkDNS1123Label(s string) string {
	switch {
	case len(s) > maxLabelLen:
		return fmt.Sprintf("must be no more than %d characters", maxLabelLen)
	case dns1123Label(s):
		return ""
	case dns1123Subdomain(s):
		return "must not contain dots"
	}
	return "must consist of lower case letters, digits or '-', and start and end with a letter or digit (e.g. 'my-name' or '123-abc')"
}

// checkDNS1035Label returns why s is not an RFC 1035 label (a Service
// name), or "".
func checkDNS1035Label(s string) string {
	if len(s) > maxLabelLen {
		return fmt.Sprintf("must be no more than %d characters", maxLabelLen)
	}
	if dns1123Label(s) && isLower(s[0]) {
		return ""
	}
	return "must consist of lower case letters, digits or '-', start with a letter and end with a letter or digit (e.g. 'my-name' or 'abc-123')"
}

// checkDNS1123Subdomain returns why s is not an RFC 1123 subdomain (a
// hostname), or "".
func checkDNS1123Subdomain(s string) string {
	if len(s) > maxSubdomainLen {
		return fmt.Sprintf("must be no more than %d characters", maxSubdomainLen)
	}
	if !dns1123Subdomain(s) {
		return "must consist of lower case letters, digits, '-' or '.', and start and end with a letter or digit (e.g. 'example.com')"
	}
	return ""
}

// labelName matches ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9].
func labelName(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !isAlnum(b) && b != '-' && b != '_' && b != '.' {
			return false
		}
	}
	return true
}

// checkLabelKey returns why k is not a label key ([prefix/]name), or "".
func checkLabelKey(k string) string {
	name := k
	switch parts := strings.Split(k, "/"); len(parts) {
	case 1:
	case 2:
		if parts[0] == "" {
			return "the prefix before '/' is empty"
		}
		if msg := checkDNS1123Subdomain(parts[0]); msg != "" {
			return "the prefix before '/' " + msg
		}
		name = parts[1]
	default:
		return "a label key is a name with an optional DNS subdomain prefix and '/' (e.g. 'app' or 'example.com/app')"
	}
	switch {
	case name == "":
		return "the name is empty"
	case len(name) > maxLabelLen:
		return fmt.Sprintf("the name must be no more than %d characters", maxLabelLen)
	case !labelName(name):
		return "the name must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit"
	}
	return ""
}

// checkLabelValue returns why v is not a label value, or "".
func checkLabelValue(v string) string {
	switch {
	case len(v) > maxLabelLen:
		return fmt.Sprintf("must be no more than %d characters", maxLabelLen)
	case v != "" && !labelName(v):
		return "must be empty or consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit"
	}
	return ""
}
