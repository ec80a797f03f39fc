// Package auth is who may use the dashboard and what they may do: local
// users with argon2id password hashes, the four roles of the guidelines'
// workflow, and a limit on login attempts. It keeps no state of its own
// beyond what it is given; sessions and OIDC build on it.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters. DefaultParams follow the
// OWASP recommendation for argon2id (64 MiB, 3 passes, 2 lanes): about a
// tenth of a second per login on a small server, and a GPU's worth of
// memory per guess for an attacker with a stolen hash.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultParams returns the parameters new hashes use.
func DefaultParams() Params { return Params{Memory: 64 * 1024, Time: 3, Threads: 2} }

const (
	saltLen = 16
	keyLen  = 32
)

// ErrBadHash is returned for a stored hash that is not an argon2id hash in
// the PHC string format.
var ErrBadHash = errors.New("not an argon2id password hash")

// HashPassword returns the password's argon2id hash in the PHC string
// format ($argon2id$v=19$m=...,t=...,p=...$salt$hash), which records its
// parameters so they can be raised later without breaking old hashes.
func HashPassword(password string, p Params) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// parsed is a decoded PHC hash.
type parsed struct {
	params    Params
	salt, key []byte
}

func parseHash(encoded string) (parsed, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return parsed{}, ErrBadHash
	}
	var p parsed
	for _, kv := range strings.Split(parts[3], ",") {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return parsed{}, ErrBadHash
		}
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil || n == 0 {
			return parsed{}, ErrBadHash
		}
		switch name {
		case "m":
			p.params.Memory = uint32(n)
		case "t":
			p.params.Time = uint32(n)
		case "p":
			if n > 255 {
				return parsed{}, ErrBadHash
			}
			p.params.Threads = uint8(n)
		default:
			return parsed{}, ErrBadHash
		}
	}
	if p.params.Memory == 0 || p.params.Time == 0 || p.params.Threads == 0 || p.params.Memory > 4*1024*1024 {
		return parsed{}, ErrBadHash
	}
	b64 := base64.RawStdEncoding
	var err error
	if p.salt, err = b64.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return parsed{}, ErrBadHash
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil || len(p.key) < 16 {
		return parsed{}, ErrBadHash
	}
	return p, nil
}

// CheckHash reports whether encoded is a well-formed argon2id hash.
func CheckHash(encoded string) error {
	_, err := parseHash(encoded)
	return err
}

// VerifyPassword reports whether password matches the hash, comparing in
// constant time.
func VerifyPassword(encoded, password string) (bool, error) {
	p, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), p.salt, p.params.Time, p.params.Memory, p.params.Threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}
