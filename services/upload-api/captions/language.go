package captions

import (
	"fmt"
	"strings"

	"github.com/vidpipe/vidpipe/contract"
)

// MaxLanguageLen bounds a language tag (RFC 5646 recommends supporting
// 35): contract.MaxLanguageLen.
const MaxLanguageLen = contract.MaxLanguageLen

// MaxLabelLen bounds a track label, in characters:
// contract.MaxCaptionLabelLen (64).
const MaxLabelLen = contract.MaxCaptionLabelLen

// Language validates tag as a BCP 47 language tag (RFC 5646 langtag:
// language[-extlang][-script][-region]*(-variant)*(-extension)[-x-private])
// and returns it in canonical case: language and extlang lowercase,
// script title case, region uppercase, the rest lowercase.
func Language(tag string) (string, error) {
	if tag == "" {
		return "", fmt.Errorf("language is required (a BCP 47 tag such as en or pt-BR)")
	}
	if len(tag) > MaxLanguageLen {
		return "", fmt.Errorf("language tag is longer than %d characters", MaxLanguageLen)
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("language %q is not a BCP 47 tag: %s", tag, why)
	}
	subtags := strings.Split(tag, "-")
	for _, s := range subtags {
		if s == "" || len(s) > 8 || !isAlnum(s) {
			return bad("subtags are 1 to 8 letters or digits separated by -")
		}
	}
	out := make([]string, 0, len(subtags))
	i := 0
	// language: 2-3 letters (then up to 3 extlangs of 3 letters), or 4-8 letters.
	lang := subtags[0]
	if !isAlpha(lang) || len(lang) < 2 {
		return bad("the first subtag must be a language of 2 to 8 letters")
	}
	out = append(out, strings.ToLower(lang))
	i++
	if len(lang) <= 3 {
		for n := 0; n < 3 && i < len(subtags) && len(subtags[i]) == 3 && isAlpha(subtags[i]); n++ {
			out = append(out, strings.ToLower(subtags[i]))
			i++
		}
	}
	if i < len(subtags) && len(subtags[i]) == 4 && isAlpha(subtags[i]) { // script
		s := strings.ToLower(subtags[i])
		out = append(out, strings.ToUpper(s[:1])+s[1:])
		i++
	}
	if i < len(subtags) && ((len(subtags[i]) == 2 && isAlpha(subtags[i])) || (len(subtags[i]) == 3 && isDigit(subtags[i]))) { // region
		out = append(out, strings.ToUpper(subtags[i]))
		i++
	}
	seenVariant := map[string]bool{}
	for i < len(subtags) && ((len(subtags[i]) >= 5) || (len(subtags[i]) == 4 && isDigit(subtags[i][:1]))) { // variants
		v := strings.ToLower(subtags[i])
		if seenVariant[v] {
			return bad("variant " + v + " repeats")
		}
		seenVariant[v] = true
		out = append(out, v)
		i++
	}
	seenExt := map[string]bool{}
	for i < len(subtags) && len(subtags[i]) == 1 && strings.ToLower(subtags[i]) != "x" { // extensions
		single := strings.ToLower(subtags[i])
		if seenExt[single] {
			return bad("extension " + single + " repeats")
		}
		seenExt[single] = true
		out = append(out, single)
		i++
		n := 0
		for i < len(subtags) && len(subtags[i]) >= 2 {
			out = append(out, strings.ToLower(subtags[i]))
			i++
			n++
		}
		if n == 0 {
			return bad("extension " + single + " has no subtag")
		}
	}
	if i < len(subtags) && strings.ToLower(subtags[i]) == "x" { // private use
		out = append(out, "x")
		i++
		if i == len(subtags) {
			return bad("private use x has no subtag")
		}
		for ; i < len(subtags); i++ {
			out = append(out, strings.ToLower(subtags[i]))
		}
	}
	if i != len(subtags) {
		return bad(fmt.Sprintf("unexpected subtag %q", subtags[i]))
	}
	return strings.Join(out, "-"), nil
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9') && !((c|0x20) >= 'a' && (c|0x20) <= 'z') {
			return false
		}
	}
	return true
}
