// Package policy is the one place where the numbers of Whistle's background
// work live: statutory deadlines, escalation steps, retention, notification
// retries, sweep sizes, and the holiday calendar that working-day deadlines
// count on. RULES.md: "Every number here must be policy data (one versioned,
// validated config file with the source cited next to each value)" —
// provinces revise these rules, so an operator changes a file, not code.
//
// The defaults are policy.json and holidays.json in this directory, embedded
// in the binary. Load reads replacements from files; both are validated
// strictly (unknown fields, missing sources and out-of-range values are
// errors) so a typo cannot silently change a deadline.
package policy

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"whistle/internal/strictjson"
)

var (
	//go:embed policy.json
	defaultPolicy []byte
	//go:embed holidays.json
	defaultHolidays []byte
)

const (
	policyFormat = "whistle-policy/1"
	maxFileSize  = 1 << 20
)

// Unit is what a Quantity counts.
type Unit string

// Units. Calendar units (working days, days, months, years) follow the
// period rules of the civil code; the others are plain durations or counts.
const (
	WorkingDays Unit = "working_days"
	Days        Unit = "days"
	Months      Unit = "months"
	Years       Unit = "years"
	Hours       Unit = "hours"
	Minutes     Unit = "minutes"
	Seconds     Unit = "seconds"
	Count       Unit = "count"
)

// Quantity is one number of the policy with its unit and the source it was
// taken from.
type Quantity struct {
	Value  int    `json:"value"`
	Unit   Unit   `json:"unit"`
	Source string `json:"source"`
}

// Duration is the quantity as a time span; only for hours, minutes and seconds.
func (q Quantity) Duration() time.Duration {
	switch q.Unit {
	case Hours:
		return time.Duration(q.Value) * time.Hour
	case Minutes:
		return time.Duration(q.Value) * time.Minute
	case Seconds:
		return time.Duration(q.Value) * time.Second
	}
	return 0
}

// String is "3 working_days" and the like, for logs and errors.
func (q Quantity) String() string { return fmt.Sprintf("%d %s", q.Value, q.Unit) }

// Switch is a yes/no rule of the policy with its source.
type Switch struct {
	On     bool   `json:"on"`
	Source string `json:"source"`
}

// Policy is the validated policy. Use Default or Load; a Policy is read-only
// once built and safe for concurrent use.
type Policy struct {
	Format  string `json:"format"`
	Version string `json:"version"`
	Note    string `json:"note"`
	Periods struct {
		UTCOffsetHours    Quantity `json:"utc_offset_hours"`
		StartDayExcluded  Switch   `json:"start_day_excluded"`
		EndOnRestDayMoves Switch   `json:"end_on_rest_day_moves"`
	} `json:"periods"`
	Clocks struct {
		SignFor           Quantity `json:"sign_for"`
		Handling          Quantity `json:"handling"`
		HandlingExtension Quantity `json:"handling_extension"`
		Feedback          Quantity `json:"feedback"`
		RewardClaim       Quantity `json:"reward_claim"`
	} `json:"clocks"`
	Escalation struct {
		SupervisorAfter      Quantity `json:"supervisor_after"`
		CoordinationAfter    Quantity `json:"coordination_after"`
		SupervisedOneLevelUp Switch   `json:"supervised_one_level_up"`
		Recheck              Quantity `json:"recheck"`
	} `json:"escalation"`
	Retention struct {
		DailyAtHour Quantity `json:"daily_at_hour"`
		ClosedCases Quantity `json:"closed_cases"`
	} `json:"retention"`
	Notify struct {
		MaxAttempts  Quantity `json:"max_attempts"`
		BackoffFirst Quantity `json:"backoff_first"`
		BackoffMax   Quantity `json:"backoff_max"`
		SendTimeout  Quantity `json:"send_timeout"`
	} `json:"notify"`
	Tasks struct {
		RetryFirst Quantity `json:"retry_first"`
		RetryMax   Quantity `json:"retry_max"`
		Shutdown   Quantity `json:"shutdown"`
	} `json:"tasks"`
	Sweep struct {
		Interval          Quantity `json:"interval"`
		Batch             Quantity `json:"batch"`
		OrphanMarkerGrace Quantity `json:"orphan_marker_grace"`
	} `json:"sweep"`
	Duplicates struct {
		MaxCasesPerBand Quantity `json:"max_cases_per_band"`
		MaxCandidates   Quantity `json:"max_candidates"`
	} `json:"duplicates"`

	// Calendar counts working days; built from the holidays file.
	Calendar *Calendar `json:"-"`
}

// rule says which units and range one quantity may take.
type rule struct {
	name     string
	q        *Quantity
	units    []Unit
	min, max int
}

var calendarUnits = []Unit{WorkingDays, Days, Months, Years}

func (p *Policy) rules() []rule {
	return []rule{
		{"periods.utc_offset_hours", &p.Periods.UTCOffsetHours, []Unit{Hours}, -12, 14},
		{"clocks.sign_for", &p.Clocks.SignFor, calendarUnits, 1, 366},
		{"clocks.handling", &p.Clocks.Handling, calendarUnits, 1, 366},
		{"clocks.handling_extension", &p.Clocks.HandlingExtension, calendarUnits, 1, 366},
		{"clocks.feedback", &p.Clocks.Feedback, calendarUnits, 1, 366},
		{"clocks.reward_claim", &p.Clocks.RewardClaim, calendarUnits, 1, 366},
		{"escalation.supervisor_after", &p.Escalation.SupervisorAfter, []Unit{WorkingDays, Days}, 0, 60},
		{"escalation.coordination_after", &p.Escalation.CoordinationAfter, []Unit{WorkingDays, Days}, 0, 60},
		{"escalation.recheck", &p.Escalation.Recheck, []Unit{Minutes, Hours}, 1, 24 * 60},
		{"retention.daily_at_hour", &p.Retention.DailyAtHour, []Unit{Hours}, 0, 23},
		{"retention.closed_cases", &p.Retention.ClosedCases, []Unit{Years, Months, Days}, 1, 100 * 366},
		{"notify.max_attempts", &p.Notify.MaxAttempts, []Unit{Count}, 1, 100},
		{"notify.backoff_first", &p.Notify.BackoffFirst, []Unit{Seconds, Minutes}, 1, 24 * 3600},
		{"notify.backoff_max", &p.Notify.BackoffMax, []Unit{Seconds, Minutes, Hours}, 1, 24 * 3600},
		{"notify.send_timeout", &p.Notify.SendTimeout, []Unit{Seconds}, 1, 300},
		{"tasks.retry_first", &p.Tasks.RetryFirst, []Unit{Seconds}, 1, 3600},
		{"tasks.retry_max", &p.Tasks.RetryMax, []Unit{Seconds}, 1, 24 * 3600},
		{"tasks.shutdown", &p.Tasks.Shutdown, []Unit{Seconds}, 1, 10},
		{"sweep.interval", &p.Sweep.Interval, []Unit{Minutes}, 1, 60},
		{"sweep.batch", &p.Sweep.Batch, []Unit{Count}, 1, 1_000_000},
		{"sweep.orphan_marker_grace", &p.Sweep.OrphanMarkerGrace, []Unit{Minutes, Hours}, 1, 7 * 24 * 60},
		{"duplicates.max_cases_per_band", &p.Duplicates.MaxCasesPerBand, []Unit{Count}, 1, 10_000},
		{"duplicates.max_candidates", &p.Duplicates.MaxCandidates, []Unit{Count}, 1, 10_000},
	}
}

func (p *Policy) switches() map[string]*Switch {
	return map[string]*Switch{
		"periods.start_day_excluded":         &p.Periods.StartDayExcluded,
		"periods.end_on_rest_day_moves":      &p.Periods.EndOnRestDayMoves,
		"escalation.supervised_one_level_up": &p.Escalation.SupervisedOneLevelUp,
	}
}

// validate checks every value; all problems are reported at once.
func (p *Policy) validate() error {
	var errs []error
	if p.Format != policyFormat {
		errs = append(errs, fmt.Errorf("format %q, want %q", p.Format, policyFormat))
	}
	if strings.TrimSpace(p.Version) == "" {
		errs = append(errs, errors.New("version is empty"))
	}
	for _, r := range p.rules() {
		q := r.q
		unitOK := false
		for _, u := range r.units {
			unitOK = unitOK || q.Unit == u
		}
		switch {
		case !unitOK:
			errs = append(errs, fmt.Errorf("%s: unit %q, want one of %q", r.name, q.Unit, r.units))
		case q.Value < r.min || q.Value > r.max:
			errs = append(errs, fmt.Errorf("%s: %d outside %d..%d", r.name, q.Value, r.min, r.max))
		}
		if strings.TrimSpace(q.Source) == "" {
			errs = append(errs, fmt.Errorf("%s: no source cited", r.name))
		}
	}
	for name, s := range p.switches() {
		if strings.TrimSpace(s.Source) == "" {
			errs = append(errs, fmt.Errorf("%s: no source cited", name))
		}
	}
	if p.Notify.BackoffMax.Duration() < p.Notify.BackoffFirst.Duration() {
		errs = append(errs, errors.New("notify.backoff_max is shorter than notify.backoff_first"))
	}
	if p.Tasks.RetryMax.Duration() < p.Tasks.RetryFirst.Duration() {
		errs = append(errs, errors.New("tasks.retry_max is shorter than tasks.retry_first"))
	}
	return errors.Join(errs...)
}

// Parse builds a policy from the content of a policy file and a holidays file.
func Parse(policyJSON, holidaysJSON []byte) (*Policy, error) {
	p := &Policy{}
	if err := strictjson.Decode(policyJSON, p, maxFileSize); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("policy %s: %w", p.Version, err)
	}
	loc := time.FixedZone(fmt.Sprintf("UTC%+d", p.Periods.UTCOffsetHours.Value), p.Periods.UTCOffsetHours.Value*3600)
	cal, err := ParseCalendar(holidaysJSON, loc)
	if err != nil {
		return nil, err
	}
	p.Calendar = cal
	return p, nil
}

// Default returns the policy compiled into the binary.
func Default() (*Policy, error) { return Parse(defaultPolicy, defaultHolidays) }

// Load reads the policy and holidays files; an empty path takes the
// compiled-in default for that file.
func Load(policyPath, holidaysPath string) (*Policy, error) {
	pb, hb := defaultPolicy, defaultHolidays
	var err error
	if policyPath != "" {
		if pb, err = readLimited(policyPath); err != nil {
			return nil, err
		}
	}
	if holidaysPath != "" {
		if hb, err = readLimited(holidaysPath); err != nil {
			return nil, err
		}
	}
	return Parse(pb, hb)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("policy: %s is larger than %d bytes", path, maxFileSize)
	}
	return b, nil
}

// Location is the time zone deadlines are counted in.
func (p *Policy) Location() *time.Location { return p.Calendar.loc }

// Deadline is when a period of q that starts at start ends: the civil-code
// rules of the policy (start day excluded; a last day that is a rest day
// moves to the next working day; a period ends at 24:00 of its last day).
// Working days skip weekends and holidays and count make-up days (调休).
// Only calendar units are meaningful; others return start unchanged.
func (p *Policy) Deadline(start time.Time, q Quantity) time.Time {
	cal := p.Calendar
	day := cal.date(start)
	if !p.Periods.StartDayExcluded.On {
		day = day.AddDate(0, 0, -1)
	}
	var last time.Time
	switch q.Unit {
	case WorkingDays:
		last = day
		for n := q.Value; n > 0; {
			last = last.AddDate(0, 0, 1)
			if cal.isWorkingDate(last) {
				n--
			}
		}
		// Zero working days ends at the end of the start day itself, even
		// when that day is a rest day: it is an offset, not a period.
		if q.Value == 0 {
			last = cal.date(start)
		}
	case Days:
		last = day.AddDate(0, 0, q.Value)
	case Months:
		last = addMonthsClamped(day, q.Value)
	case Years:
		last = addMonthsClamped(day, 12*q.Value)
	default:
		return start
	}
	if q.Unit != WorkingDays && p.Periods.EndOnRestDayMoves.On {
		for !cal.isWorkingDate(last) {
			last = last.AddDate(0, 0, 1)
		}
	}
	return last.AddDate(0, 0, 1) // 24:00 of the last day
}

// addMonthsClamped adds months keeping the day of month, or the last day of
// the target month when it has no such day (民法典 第二百零二条: 没有对应日的，
// 月末日为期间的最后一日). time.AddDate would roll Jan 31 + 1 month to March.
func addMonthsClamped(day time.Time, months int) time.Time {
	y, m, d := day.Date()
	first := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, day.Location())
	lastDay := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, lastDay), 0, 0, 0, 0, day.Location())
}
