package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func mustDefault(t testing.TB) *Policy {
	t.Helper()
	p, err := Default()
	if err != nil {
		t.Fatalf("embedded policy is invalid: %v", err)
	}
	return p
}

// cst builds an instant in China Standard Time.
func cst(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, time.FixedZone("CST", 8*3600))
	if err != nil {
		panic(err)
	}
	return t
}

func TestDefaultPolicyCarriesTheRulesDefaults(t *testing.T) {
	p := mustDefault(t)
	tests := []struct {
		name string
		got  Quantity
		want string
	}{
		{"sign-for within 3 working days", p.Clocks.SignFor, "3 working_days"},
		{"handling within 60 days of acceptance", p.Clocks.Handling, "60 days"},
		{"one extension of at most 30 days", p.Clocks.HandlingExtension, "30 days"},
		{"feedback within 3 months", p.Clocks.Feedback, "3 months"},
		{"reward claim within 60 days", p.Clocks.RewardClaim, "60 days"},
		{"closed cases kept 5 years", p.Retention.ClosedCases, "5 years"},
		{"sweep every minute", p.Sweep.Interval, "1 minutes"},
	}
	for _, tt := range tests {
		if tt.got.String() != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	if p.Location().String() != "UTC+8" {
		t.Errorf("deadlines counted in %s, want UTC+8", p.Location())
	}
}

// mutate decodes the embedded policy into a generic map, applies f, and
// re-encodes it, so each rejection case changes exactly one thing.
func mutate(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(defaultPolicy, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func field(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

func TestParseRejectsInvalidPolicies(t *testing.T) {
	tests := []struct {
		name    string
		policy  []byte
		wantErr string
	}{
		{"unknown field", mutate(t, func(m map[string]any) { field(m, "clocks")["sign_fro"] = map[string]any{} }), "unknown field"},
		{"missing source", mutate(t, func(m map[string]any) { field(m, "clocks", "sign_for")["source"] = " " }), "clocks.sign_for: no source cited"},
		{"switch without source", mutate(t, func(m map[string]any) { field(m, "periods", "start_day_excluded")["source"] = "" }), "periods.start_day_excluded: no source cited"},
		{"wrong unit", mutate(t, func(m map[string]any) { field(m, "clocks", "handling")["unit"] = "seconds" }), "clocks.handling: unit"},
		{"zero deadline", mutate(t, func(m map[string]any) { field(m, "clocks", "sign_for")["value"] = 0 }), "clocks.sign_for: 0 outside"},
		{"negative retention", mutate(t, func(m map[string]any) { field(m, "retention", "closed_cases")["value"] = -1 }), "retention.closed_cases: -1 outside"},
		{"backoff max below first", mutate(t, func(m map[string]any) { field(m, "notify", "backoff_max")["value"] = 5 }), "backoff_max is shorter"},
		{"wrong format", mutate(t, func(m map[string]any) { m["format"] = "whistle-policy/0" }), "format"},
		{"no version", mutate(t, func(m map[string]any) { m["version"] = "" }), "version is empty"},
		{"trailing data", append(append([]byte{}, defaultPolicy...), []byte(`{}`)...), "trailing data"},
		{"not JSON", []byte("clocks: 3"), "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.policy, defaultHolidays)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCalendar2026FollowsTheStateCouncilNotice(t *testing.T) {
	cal := mustDefault(t).Calendar
	tests := []struct {
		day     string
		working bool
		why     string
	}{
		{"2026-01-01 12:00", false, "元旦 holiday (Thursday)"},
		{"2026-01-04 12:00", true, "Sunday make-up day for 元旦"},
		{"2026-02-14 12:00", true, "Saturday make-up day for 春节"},
		{"2026-02-16 12:00", false, "春节 holiday (Monday)"},
		{"2026-02-23 12:00", false, "last day of 春节 (Monday)"},
		{"2026-02-24 12:00", true, "ordinary Tuesday after 春节"},
		{"2026-02-28 12:00", true, "Saturday make-up day for 春节"},
		{"2026-03-01 12:00", false, "ordinary Sunday"},
		{"2026-04-06 12:00", false, "清明节 (Monday)"},
		{"2026-05-05 12:00", false, "劳动节 (Tuesday)"},
		{"2026-05-09 12:00", true, "Saturday make-up day for 劳动节"},
		{"2026-06-19 12:00", false, "端午节 (Friday)"},
		{"2026-09-20 12:00", true, "Sunday make-up day for 国庆节"},
		{"2026-09-25 12:00", false, "中秋节 (Friday)"},
		{"2026-10-07 12:00", false, "国庆节 (Wednesday)"},
		{"2026-10-10 12:00", true, "Saturday make-up day for 国庆节"},
		{"2026-11-30 12:00", true, "ordinary Monday"},
		{"2027-01-01 12:00", false, "元旦 2027, a fixed-date statutory holiday"},
		{"2027-10-04 12:00", true, "2027 beyond the statutory days: unknown arrangement, weekday counts"},
	}
	for _, tt := range tests {
		if got := cal.IsWorkingDay(cst(tt.day)); got != tt.working {
			t.Errorf("%s (%s): working=%v, want %v", tt.day, tt.why, got, tt.working)
		}
	}
	if cal.MakeUpFor(cst("2026-02-28 09:00")) != "春节" || cal.Holiday(cst("2026-10-03 09:00")) != "国庆节" {
		t.Error("holiday names not kept")
	}
	if cal.Status(2026) != Published || cal.Status(2027) != Unpublished || cal.Status(2030) != "" {
		t.Errorf("statuses 2026=%q 2027=%q 2030=%q", cal.Status(2026), cal.Status(2027), cal.Status(2030))
	}
}

func TestWorkingDayUsesChinaTime(t *testing.T) {
	cal := mustDefault(t).Calendar
	// 2026-01-03 17:00 UTC is Sunday 2026-01-04 01:00 in Beijing: a make-up working day.
	if !cal.IsWorkingDay(time.Date(2026, 1, 3, 17, 0, 0, 0, time.UTC)) {
		t.Error("the UTC date was used instead of the Beijing date")
	}
}

func TestDeadlines(t *testing.T) {
	p := mustDefault(t)
	q := func(v int, u Unit) Quantity { return Quantity{Value: v, Unit: u, Source: "test"} }
	tests := []struct {
		name  string
		start string
		q     Quantity
		want  string // 24:00 of the last day, written as 00:00 of the next
	}{
		{"sign-for over 春节: the Saturday make-up day counts, the holiday does not",
			"2026-02-13 10:00", q(3, WorkingDays), "2026-02-26 00:00"},
		{"sign-for across the 劳动节 make-up Saturday",
			"2026-05-07 16:00", q(3, WorkingDays), "2026-05-12 00:00"},
		{"sign-for from a Friday skips an ordinary weekend",
			"2026-03-06 09:00", q(3, WorkingDays), "2026-03-12 00:00"},
		{"sign-for starting on a holiday counts from the next working day and the 10 October make-up Saturday",
			"2026-10-03 11:00", q(3, WorkingDays), "2026-10-11 00:00"},
		{"handling: 60 days ending inside 国庆 moves to the first working day after it",
			"2026-08-03 15:00", q(60, Days), "2026-10-09 00:00"},
		{"handling: 60 days ending on a working Friday stays",
			"2026-08-17 08:00", q(60, Days), "2026-10-17 00:00"},
		{"feedback: 3 months from 31 January end on 30 April (no 31 April)",
			"2026-01-31 10:00", q(3, Months), "2026-05-01 00:00"},
		{"feedback: a last day on a Sunday moves to Monday",
			"2026-11-30 10:00", q(3, Months), "2027-03-02 00:00"},
		{"retention: 5 years from 29 February end on 28 February",
			"2024-02-29 10:00", q(5, Years), "2029-03-01 00:00"},
		{"zero working days is the end of the same day, even on a holiday",
			"2026-10-02 18:00", q(0, WorkingDays), "2026-10-03 00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Deadline(cst(tt.start), tt.q)
			if want := cst(tt.want); !got.Equal(want) {
				t.Fatalf("deadline of %s from %s = %s, want %s", tt.q, tt.start, got.In(p.Location()).Format("2006-01-02 15:04"), tt.want)
			}
		})
	}
}

func TestParseCalendarRejectsInconsistentYears(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	year := func(body string) []byte {
		return []byte(`{"format":"whistle-holidays/1","note":"","years":[` + body + `]}`)
	}
	tests := []struct {
		name, body, wantErr string
	}{
		{"make-up day on a weekday", `{"year":2026,"status":"published","source":"s","holidays":[],"workdays":[{"date":"2026-03-03","for":"x"}]}`, "not a Saturday or Sunday"},
		{"make-up day that is a holiday", `{"year":2026,"status":"published","source":"s","holidays":[{"name":"a","from":"2026-02-14","to":"2026-02-15"}],"workdays":[{"date":"2026-02-14","for":"a"}]}`, "also a holiday"},
		{"overlapping holidays", `{"year":2026,"status":"published","source":"s","holidays":[{"name":"a","from":"2026-02-14","to":"2026-02-15"},{"name":"b","from":"2026-02-15","to":"2026-02-16"}],"workdays":[]}`, "in both a and b"},
		{"date outside its year", `{"year":2026,"status":"published","source":"s","holidays":[{"name":"a","from":"2027-01-01","to":"2027-01-01"}],"workdays":[]}`, "not in 2026"},
		{"reversed range", `{"year":2026,"status":"published","source":"s","holidays":[{"name":"a","from":"2026-01-03","to":"2026-01-01"}],"workdays":[]}`, "range"},
		{"no source", `{"year":2026,"status":"published","source":"","holidays":[],"workdays":[]}`, "no source"},
		{"unknown status", `{"year":2026,"status":"draft","source":"s","holidays":[],"workdays":[]}`, "status"},
		{"unpublished year with make-up days", `{"year":2027,"status":"unpublished","source":"s","holidays":[],"workdays":[{"date":"2027-01-02","for":"x"}]}`, "unpublished"},
		{"year twice", `{"year":2026,"status":"published","source":"s","holidays":[],"workdays":[]},{"year":2026,"status":"published","source":"s","holidays":[],"workdays":[]}`, "twice"},
		{"bad date", `{"year":2026,"status":"published","source":"s","holidays":[{"name":"a","from":"2026-13-01","to":"2026-13-01"}],"workdays":[]}`, "YYYY-MM-DD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCalendar(year(tt.body), loc)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(defaultPolicy, defaultHolidays)
	f.Add([]byte(`{"format":"whistle-policy/1"}`), []byte(`{"format":"whistle-holidays/1","years":[{"year":2026}]}`))
	f.Fuzz(func(t *testing.T, policyJSON, holidaysJSON []byte) {
		p, err := Parse(policyJSON, holidaysJSON)
		if err != nil {
			return
		}
		// A policy that parses must produce deadlines after their start.
		start := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		for _, q := range []Quantity{p.Clocks.SignFor, p.Clocks.Handling, p.Clocks.Feedback, p.Clocks.RewardClaim} {
			if d := p.Deadline(start, q); !d.After(start) {
				t.Fatalf("deadline %s of %s is not after its start", d, q)
			}
		}
	})
}
