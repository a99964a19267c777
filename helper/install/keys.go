package install

import (
	"fmt"

	"github.com/kftray-go/kftray/helper/minisign"
)

// The public keys kftray trusts for helper binaries, as minisign base64
// lines, set at link time so no file on disk can change them:
//
//	-ldflags "-X github.com/kftray-go/kftray/helper/install.ReleasePublicKey=RWQ..."
//
// Release builds set ReleasePublicKey. Local builds set DevPublicKey to the
// developer's own key; scripts/sign-helper prints the flag.
var (
	ReleasePublicKey = ""
	DevPublicKey     = ""
)

// BuiltinKeys returns the keys this build trusts (possibly none).
func BuiltinKeys() ([]minisign.PublicKey, error) {
	var keys []minisign.PublicKey
	for name, s := range map[string]string{"release": ReleasePublicKey, "dev": DevPublicKey} {
		if s == "" {
			continue
		}
		k, err := minisign.ParsePublicKey([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("the %s helper key built into kftray is malformed: %w", name, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
