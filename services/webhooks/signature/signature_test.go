package signature_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/vidpipe/vidpipe/services/webhooks/signature"
)

// verify checks headers with the Standard Webhooks reference library, not
// with this package's code.
func verify(t *testing.T, secret string, body []byte, hs map[string]string) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for k, v := range hs {
		h.Set(k, v)
	}
	return wh.Verify(body, h)
}

func TestSignedDeliveriesVerifyWithTheReferenceLibrary(t *testing.T) {
	body := []byte(`{"specversion":"1.0","id":"x","type":"dev.vidpipe.video.ready.v1","data":{"video_id":"v"}}`)
	secret, other := signature.NewSecret(), signature.NewSecret()
	now := time.Now()
	tests := map[string]struct {
		signWith []string
		verifyBy string
		ok       bool
	}{
		"one secret":                          {[]string{secret}, secret, true},
		"rotation: new secret verifies":       {[]string{secret, other}, secret, true},
		"rotation: old secret verifies":       {[]string{secret, other}, other, true},
		"another secret does not":             {[]string{secret}, other, false},
		"rotation: an unrelated one does not": {[]string{secret, other}, signature.NewSecret(), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			hs, err := signature.Headers("msg_1", now, body, tc.signWith...)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(hs[signature.HeaderSignature], "v1,"); got != len(tc.signWith) {
				t.Errorf("signature header %q has %d signatures, want %d", hs[signature.HeaderSignature], got, len(tc.signWith))
			}
			err = verify(t, tc.verifyBy, body, hs)
			if (err == nil) != tc.ok {
				t.Errorf("reference verify = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	hs, _ := signature.Headers("msg_1", now, body, secret)
	if err := verify(t, secret, append(body, ' '), hs); err == nil {
		t.Error("a changed body verified")
	}
	hs[signature.HeaderID] = "msg_2"
	if err := verify(t, secret, body, hs); err == nil {
		t.Error("a changed id verified")
	}
}

// TestSpecExample checks the example of the Standard Webhooks specification.
func TestSpecExample(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ts := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	got, err := signature.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body, secret)
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s (the specification's example)", got, want)
	}
}

func TestNewSecret(t *testing.T) {
	s := signature.NewSecret()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if !strings.HasPrefix(s, "whsec_") || err != nil || len(key) < 24 {
		t.Fatalf("NewSecret = %q: want whsec_ + base64 of 24+ bytes (%v)", s, err)
	}
	if signature.NewSecret() == s {
		t.Error("two secrets are equal")
	}
	if _, err := signature.Key("whsec_!!"); err == nil {
		t.Error("Key accepted a secret that is not base64")
	}
}
