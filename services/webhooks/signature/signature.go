// Package signature signs webhook deliveries the Standard Webhooks way
// (https://www.standardwebhooks.com/).
//
// A secret is "whsec_" followed by the standard base64 encoding of its
// key bytes (24 random bytes for secrets made by [NewSecret]). A delivery
// carries three headers:
//
//	webhook-id:        the message id (the event's CloudEvents id; the same for every retry)
//	webhook-timestamp: unix seconds of this attempt
//	webhook-signature: v1,<base64 of HMAC-SHA256(key, id + "." + timestamp + "." + body)>
//
// During a secret rotation a message is signed with each valid secret,
// the signatures separated by spaces, as the specification allows; a
// receiver accepts the message when any of them verifies.
package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of Standard Webhooks.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Prefix starts every secret.
const Prefix = "whsec_"

// SecretBytes is the key length of a new secret (the specification asks
// for 24 to 64 bytes).
const SecretBytes = 32

// NewSecret returns a new random secret, "whsec_" + base64 of SecretBytes
// random bytes.
func NewSecret() string {
	b := make([]byte, SecretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go ≥ 1.24 panics instead)
	return Prefix + base64.StdEncoding.EncodeToString(b)
}

// Key returns the key bytes of secret: the base64 after "whsec_" (a secret
// without the prefix is decoded as it is).
func Key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, Prefix))
	if err != nil {
		return nil, fmt.Errorf("signature: secret is not whsec_<base64>: %w", err)
	}
	if len(k) == 0 {
		return nil, errors.New("signature: empty secret")
	}
	return k, nil
}

// Sign returns the value of webhook-signature for message id, timestamp
// ts and body: one "v1,<base64>" per secret, separated by spaces, in the
// order given.
func Sign(id string, ts time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("signature: no secret")
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := Key(s)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body)))
	}
	return strings.Join(sigs, " "), nil
}

func mac(key []byte, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(unix, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Headers returns the three Standard Webhooks headers of a delivery.
func Headers(id string, ts time.Time, body []byte, secrets ...string) (map[string]string, error) {
	sig, err := Sign(id, ts, body, secrets...)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		HeaderID:        id,
		HeaderTimestamp: strconv.FormatInt(ts.Unix(), 10),
		HeaderSignature: sig,
	}, nil
}
