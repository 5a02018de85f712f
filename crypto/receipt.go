package crypto

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"whistle"
)

// Receipt is a reporter's receipt code in canonical form: exactly 20 ASCII
// digits, uniformly random (10^20 ≈ 2^66.4). It is the reporter's only
// credential and is never stored; see ServiceSecrets.DeriveReceiptKey.
//
// String redacts it so that it cannot reach a log through fmt or slog by
// accident; use Grouped to show it to the reporter.
type Receipt string

// ReceiptDigits is the length of a receipt code.
const ReceiptDigits = 20

// maxReceiptInput bounds what ParseReceipt will look at: 20 full-width
// digits (3 bytes each) with generous separators fit easily.
const maxReceiptInput = 256

// NewReceipt returns a uniformly random receipt from crypto/rand.
func NewReceipt() Receipt {
	return Receipt(randomDecimal(10) + randomDecimal(10))
}

// randomDecimal returns n ≤ 19 uniformly random decimal digits, by rejection
// sampling a uint64 below the largest multiple of 10^n (no modulo bias).
func randomDecimal(n int) string {
	mod := uint64(1)
	for range n {
		mod *= 10
	}
	limit := (^uint64(0) / mod) * mod
	var b [8]byte
	for {
		rand.Read(b[:])
		if v := binary.BigEndian.Uint64(b[:]); v < limit {
			s := strconv.FormatUint(v%mod, 10)
			return strings.Repeat("0", n-len(s)) + s
		}
	}
}

// ParseReceipt accepts a receipt as people type or read it: ASCII or
// full-width digits, separated by any spaces (including the ideographic
// space) or dashes. Anything else, or a digit count other than 20, is an
// EINVALID *whistle.Error with a zh-CN message naming the field "receipt".
func ParseReceipt(s string) (Receipt, error) {
	if len(s) > maxReceiptInput {
		return "", whistle.FieldError("receipt", "回执码过长，应为20位数字。")
	}
	digits := make([]byte, 0, ReceiptDigits)
	count := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			count++
			digits = append(digits, byte(c))
		case c >= '０' && c <= '９':
			count++
			digits = append(digits, byte('0'+c-'０'))
		case isReceiptSeparator(c):
		default:
			return "", whistle.FieldError("receipt", "回执码只能包含数字，可用空格或短横线分隔。")
		}
	}
	switch {
	case count == 0:
		return "", whistle.FieldError("receipt", "请输入回执码。")
	case count != ReceiptDigits:
		return "", whistle.FieldError("receipt", fmt.Sprintf("回执码应为20位数字，您输入了%d位。", count))
	}
	return Receipt(digits), nil
}

func isReceiptSeparator(c rune) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\u00a0', '\u3000', // spaces, incl. no-break and ideographic
		'-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212', '\uff0d': // dashes, minus, full-width hyphen-minus
		return true
	}
	return false
}

// valid reports whether r is in canonical form (what NewReceipt and
// ParseReceipt return).
func (r Receipt) valid() bool {
	if len(r) != ReceiptDigits {
		return false
	}
	for i := 0; i < len(r); i++ {
		if r[i] < '0' || r[i] > '9' {
			return false
		}
	}
	return true
}

// Grouped formats the receipt in groups of four for display and reading
// aloud: "1234 5678 9012 3456 7890". A non-canonical value is returned as is.
func (r Receipt) Grouped() string {
	if !r.valid() {
		return string(r)
	}
	var b strings.Builder
	for i := 0; i < ReceiptDigits; i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(r[i : i+4]))
	}
	return b.String()
}

// String redacts the receipt.
func (Receipt) String() string { return "Receipt(redacted)" }

// Equal compares two receipts in constant time.
func (r Receipt) Equal(other Receipt) bool {
	return subtle.ConstantTimeCompare([]byte(r), []byte(other)) == 1
}
