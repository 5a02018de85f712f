package intake

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"whistle"
)

// Limits on what a reporter types, in characters (runes).
const (
	MaxTextRunes     = 10000
	MaxShortRunes    = 200 // address, company, industry, when it started
	MaxIdentityRunes = 500
	MaxMessageRunes  = 5000
	MaxOrderNoRunes  = 64
	maxPhoneRunes    = 32
)

func fieldError(field, message string) *whistle.Error { return whistle.FieldError(field, message) }

// cleanText checks one free-text input and returns it trimmed, with line
// breaks normalised to \n. It refuses invalid UTF-8 and control characters
// (other than tab and, where multiline, line breaks), including the bidi
// overrides that can make a text display differently from what it says;
// everything else — HTML and script included — is kept as text and is
// escaped wherever it is shown.
func cleanText(field, label, s string, maxRunes int, multiline bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", fieldError(field, label+"包含无效的字符编码，请重新输入。")
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, r := range s {
		if r == '\t' || (multiline && (r == '\n' || r == '\r')) {
			continue
		}
		if unicode.IsControl(r) || isBidiControl(r) {
			return "", fieldError(field, label+"包含不可见的控制字符，请删除后重试。")
		}
	}
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return "", fieldError(field, fmt.Sprintf("%s不能超过%d字（现有%d字）。", label, maxRunes, n))
	}
	return s, nil
}

// isBidiControl reports the explicit directional embedding, override and
// isolate characters (Trojan Source).
func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// Relationship codes, as the JSON API and the form send them.
var relationships = map[string]string{
	"employee": "本单位职工",
	"family":   "职工家属",
	"other":    "其他知情人",
}

// checkPhone accepts digits with the separators people type.
func checkPhone(s string) (string, error) {
	s, err := cleanText("caller_phone", "来电号码", s, maxPhoneRunes, false)
	if err != nil {
		return "", err
	}
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' || r == '-' || r == ' ' || r == '(' || r == ')':
		default:
			return "", fieldError("caller_phone", "来电号码只能包含数字。")
		}
	}
	if s != "" && digits < 5 {
		return "", fieldError("caller_phone", "来电号码不完整。")
	}
	return s, nil
}
