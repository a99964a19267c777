// Package minisign reads and writes minisign-compatible (Ed25519) keys and
// signatures, so releases can be signed with the minisign tool and verified
// by kftray without it. Signatures are the prehashed kind ("ED",
// BLAKE2b-512 of the file); the trusted comment is signed too, which is
// what lets it bind the helper's name, version, os, arch and sha256.
package minisign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/blake2b"
)

const (
	algLegacy    = "Ed" // signs the message itself
	algPrehashed = "ED" // signs BLAKE2b-512(message)
)

// PublicKey is a minisign public key.
type PublicKey struct {
	KeyID [8]byte
	Key   ed25519.PublicKey
}

// PrivateKey is an unencrypted minisign secret key.
type PrivateKey struct {
	KeyID [8]byte
	Key   ed25519.PrivateKey
}

// Signature is a parsed .minisig file.
type Signature struct {
	Algorithm      string
	KeyID          [8]byte
	Sig            [64]byte
	TrustedComment string
	GlobalSig      [64]byte
}

// ErrVerify is returned for any signature that does not check out.
var ErrVerify = errors.New("signature verification failed")

// lines returns the non-empty lines of a minisign file.
func lines(data []byte) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// ParsePublicKey accepts a .pub file or its bare base64 line.
func ParsePublicKey(data []byte) (PublicKey, error) {
	ls := lines(data)
	if len(ls) == 0 {
		return PublicKey{}, errors.New("minisign: empty public key")
	}
	b64 := ls[len(ls)-1]
	if len(ls) > 1 && !strings.HasPrefix(ls[0], "untrusted comment:") {
		return PublicKey{}, errors.New("minisign: public key file must start with 'untrusted comment:'")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(raw) != 2+8+32 || string(raw[:2]) != algLegacy {
		return PublicKey{}, errors.New("minisign: malformed public key")
	}
	var pk PublicKey
	copy(pk.KeyID[:], raw[2:10])
	pk.Key = ed25519.PublicKey(bytes.Clone(raw[10:]))
	return pk, nil
}

// ParseSignature parses a .minisig file.
func ParseSignature(data []byte) (Signature, error) {
	ls := lines(data)
	if len(ls) != 4 || !strings.HasPrefix(ls[0], "untrusted comment:") || !strings.HasPrefix(ls[2], "trusted comment: ") {
		return Signature{}, errors.New("minisign: signature must have 4 lines: untrusted comment, signature, trusted comment, global signature")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ls[1]))
	if err != nil || len(raw) != 2+8+64 {
		return Signature{}, errors.New("minisign: malformed signature line")
	}
	var s Signature
	s.Algorithm = string(raw[:2])
	if s.Algorithm != algLegacy && s.Algorithm != algPrehashed {
		return Signature{}, fmt.Errorf("minisign: unknown signature algorithm %q", s.Algorithm)
	}
	copy(s.KeyID[:], raw[2:10])
	copy(s.Sig[:], raw[10:])
	s.TrustedComment = strings.TrimPrefix(ls[2], "trusted comment: ")
	g, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ls[3]))
	if err != nil || len(g) != 64 {
		return Signature{}, errors.New("minisign: malformed global signature")
	}
	copy(s.GlobalSig[:], g)
	return s, nil
}

// Verify checks sig over msg with pk, including the trusted comment, and
// returns the trusted comment. Only prehashed signatures are accepted:
// they are what current minisign makes, and one algorithm is less to get
// wrong.
func Verify(pk PublicKey, msg []byte, sig Signature) (string, error) {
	if sig.KeyID != pk.KeyID {
		return "", fmt.Errorf("%w: signed with key %X, expected key %X", ErrVerify, sig.KeyID, pk.KeyID)
	}
	if sig.Algorithm != algPrehashed {
		return "", fmt.Errorf("%w: legacy (non-prehashed) signature; re-sign with a current minisign", ErrVerify)
	}
	h := blake2b.Sum512(msg)
	if !ed25519.Verify(pk.Key, h[:], sig.Sig[:]) {
		return "", fmt.Errorf("%w: the file does not match its signature", ErrVerify)
	}
	global := append(bytes.Clone(sig.Sig[:]), sig.TrustedComment...)
	if !ed25519.Verify(pk.Key, global, sig.GlobalSig[:]) {
		return "", fmt.Errorf("%w: the trusted comment was altered", ErrVerify)
	}
	return sig.TrustedComment, nil
}

// Sign makes a prehashed minisign signature file.
func Sign(sk PrivateKey, msg []byte, trustedComment, untrustedComment string) ([]byte, error) {
	if strings.ContainsAny(trustedComment+untrustedComment, "\r\n") {
		return nil, errors.New("minisign: comments must be one line")
	}
	h := blake2b.Sum512(msg)
	sig := ed25519.Sign(sk.Key, h[:])
	global := ed25519.Sign(sk.Key, append(bytes.Clone(sig), trustedComment...))
	line := append([]byte(algPrehashed), sk.KeyID[:]...)
	line = append(line, sig...)
	var b strings.Builder
	fmt.Fprintf(&b, "untrusted comment: %s\n", untrustedComment)
	fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(line))
	fmt.Fprintf(&b, "trusted comment: %s\n", trustedComment)
	fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(global))
	return []byte(b.String()), nil
}

// GenerateKey makes a key pair.
func GenerateKey() (PublicKey, PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return PublicKey{}, PrivateKey{}, err
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return PublicKey{}, PrivateKey{}, err
	}
	return PublicKey{KeyID: id, Key: pub}, PrivateKey{KeyID: id, Key: priv}, nil
}

// Marshal renders a .pub file.
func (pk PublicKey) Marshal() []byte {
	raw := append([]byte(algLegacy), pk.KeyID[:]...)
	raw = append(raw, pk.Key...)
	return []byte(fmt.Sprintf("untrusted comment: minisign public key %X\n%s\n", reverse(pk.KeyID), base64.StdEncoding.EncodeToString(raw)))
}

// String is the base64 line alone, as embedded in kftray.
func (pk PublicKey) String() string {
	ls := lines(pk.Marshal())
	return ls[1]
}

// minisign prints key ids as a little-endian number.
func reverse(id [8]byte) uint64 { return binary.LittleEndian.Uint64(id[:]) }

// Secret key layout (minisign -G -W, unencrypted):
// "Ed" | kdf "\0\0" | "B2" | salt[32] | opslimit[8] | memlimit[8] |
// keyid[8] | sk[64] | blake2b-256("Ed" | keyid | sk)[32]
const secretLen = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32

// Marshal renders an unencrypted minisign secret key file.
func (sk PrivateKey) Marshal() []byte {
	raw := make([]byte, 0, secretLen)
	raw = append(raw, algLegacy...)
	raw = append(raw, 0, 0)
	raw = append(raw, "B2"...)
	raw = append(raw, make([]byte, 48)...)
	raw = append(raw, sk.KeyID[:]...)
	raw = append(raw, sk.Key...)
	raw = append(raw, sk.checksum()...)
	return []byte("untrusted comment: minisign secret key (unencrypted)\n" + base64.StdEncoding.EncodeToString(raw) + "\n")
}

func (sk PrivateKey) checksum() []byte {
	h, _ := blake2b.New256(nil)
	h.Write([]byte(algLegacy))
	h.Write(sk.KeyID[:])
	h.Write(sk.Key)
	return h.Sum(nil)
}

// ParsePrivateKey reads an unencrypted minisign secret key. Encrypted keys
// are for the minisign tool itself (scripts/sign-helper uses it for them).
func ParsePrivateKey(data []byte) (PrivateKey, error) {
	ls := lines(data)
	if len(ls) != 2 {
		return PrivateKey{}, errors.New("minisign: secret key file must have 2 lines")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ls[1]))
	if err != nil || len(raw) != secretLen || string(raw[:2]) != algLegacy || string(raw[4:6]) != "B2" {
		return PrivateKey{}, errors.New("minisign: malformed secret key")
	}
	if raw[2] != 0 || raw[3] != 0 {
		return PrivateKey{}, errors.New("minisign: the secret key is password-protected; sign with the minisign tool (scripts/sign-helper does)")
	}
	var sk PrivateKey
	off := 2 + 2 + 2 + 32 + 8 + 8
	copy(sk.KeyID[:], raw[off:off+8])
	sk.Key = ed25519.PrivateKey(bytes.Clone(raw[off+8 : off+8+64]))
	// minisign -W leaves the checksum zero; check it when present.
	if chk := raw[off+72:]; !bytes.Equal(chk, make([]byte, 32)) && !bytes.Equal(sk.checksum(), chk) {
		return PrivateKey{}, errors.New("minisign: secret key checksum mismatch")
	}
	if !bytes.Equal(sk.Key[32:], sk.Key.Public().(ed25519.PublicKey)) {
		return PrivateKey{}, errors.New("minisign: secret key is inconsistent")
	}
	return sk, nil
}

// Public returns the key's public half.
func (sk PrivateKey) Public() PublicKey {
	return PublicKey{KeyID: sk.KeyID, Key: sk.Key.Public().(ed25519.PublicKey)}
}
