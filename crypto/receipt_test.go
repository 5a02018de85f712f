package crypto

import (
	"fmt"
	"strings"
	"testing"

	"whistle"
)

func TestNewReceiptIsCanonicalAndVaried(t *testing.T) {
	seen := make(map[Receipt]bool)
	var digitsAt [ReceiptDigits][10]int
	for range 2000 {
		r := NewReceipt()
		if !r.valid() {
			t.Fatalf("receipt %q is not 20 digits", string(r))
		}
		if seen[r] {
			t.Fatal("duplicate receipt")
		}
		seen[r] = true
		for i := range ReceiptDigits {
			digitsAt[i][r[i]-'0']++
		}
	}
	// Every digit should appear at every position (leading zeros included);
	// the chance that a uniform source misses one in 2000 draws is < 1e-90.
	for pos, counts := range digitsAt {
		for d, n := range counts {
			if n == 0 {
				t.Fatalf("digit %d never appeared at position %d", d, pos)
			}
		}
	}
}

func TestParseReceiptAcceptsHowPeopleTypeIt(t *testing.T) {
	const want = Receipt("12345678901234567890")
	for _, in := range []string{
		"12345678901234567890",
		"1234 5678 9012 3456 7890",
		"1234-5678-9012-3456-7890",
		" 1234\u30005678\u00a09012－3456—7890 ",
		"１２３４５６７８９０１２３４５６７８９０",
		"１２３４ 5678-９０１２ 3456 7890",
	} {
		got, err := ParseReceipt(in)
		if err != nil || got != want {
			t.Errorf("ParseReceipt(%q) = %q, %v", in, string(got), err)
		}
	}
}

func TestParseReceiptRejectsWithZhMessage(t *testing.T) {
	for _, tc := range []struct {
		in, wantMessage string
	}{
		{"", "请输入回执码。"},
		{"   ", "请输入回执码。"},
		{"1234 5678 9012 3456 789", "回执码应为20位数字，您输入了19位。"},
		{"1234 5678 9012 3456 78901", "回执码应为20位数字，您输入了21位。"},
		{"1234 5678 9O12 3456 7890", "回执码只能包含数字，可用空格或短横线分隔。"},
		{"1234.5678.9012.3456.7890", "回执码只能包含数字，可用空格或短横线分隔。"},
		{strings.Repeat(" ", 300) + "12345678901234567890", "回执码过长，应为20位数字。"},
	} {
		_, err := ParseReceipt(tc.in)
		if whistle.ErrorCode(err) != whistle.EINVALID || whistle.ErrorMessage(err) != tc.wantMessage {
			t.Errorf("ParseReceipt(%q) error = %v, want EINVALID %q", tc.in, err, tc.wantMessage)
		}
	}
}

func TestReceiptGroupedAndRedacted(t *testing.T) {
	r := Receipt("12345678901234567890")
	if g := r.Grouped(); g != "1234 5678 9012 3456 7890" {
		t.Fatalf("Grouped() = %q", g)
	}
	if s := fmt.Sprintf("%v %s %+v", r, r, struct{ R Receipt }{r}); strings.Contains(s, "1234") {
		t.Fatalf("formatting leaks the receipt: %s", s)
	}
}

func TestReceiptEqual(t *testing.T) {
	a := Receipt("12345678901234567890")
	for _, tc := range []struct {
		b    Receipt
		want bool
	}{
		{"12345678901234567890", true},
		{"12345678901234567891", false},
		{"1234567890123456789", false},
	} {
		if got := a.Equal(tc.b); got != tc.want {
			t.Errorf("Equal(%q) = %v", string(tc.b), got)
		}
	}
}
