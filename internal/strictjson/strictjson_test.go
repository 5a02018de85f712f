package strictjson

import "testing"

func TestDecode(t *testing.T) {
	type doc struct {
		A int `json:"a"`
	}
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"valid", `{"a":1}`, true},
		{"unknown field", `{"a":1,"b":2}`, false},
		{"trailing object", `{"a":1}{"a":2}`, false},
		{"trailing garbage", `{"a":1} x`, false},
		{"not json", `{`, false},
		{"too large", `{"a":1}` + string(make([]byte, 64)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			if err := Decode([]byte(tt.in), &d, 32); (err == nil) != tt.ok {
				t.Fatalf("Decode(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}
