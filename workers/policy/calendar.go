package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"whistle/internal/strictjson"
)

const holidaysFormat = "whistle-holidays/1"

// Year statuses in the holidays file.
const (
	// Published: the State Council notice for the year is transcribed in full.
	Published = "published"
	// Unpublished: the notice is not out (or not transcribed); only the
	// fixed-date statutory holidays are listed and no make-up days.
	Unpublished = "unpublished"
)

type holidaysFile struct {
	Format string     `json:"format"`
	Note   string     `json:"note"`
	Years  []yearFile `json:"years"`
}

type yearFile struct {
	Year     int    `json:"year"`
	Status   string `json:"status"`
	Source   string `json:"source"`
	Holidays []struct {
		Name string `json:"name"`
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"holidays"`
	Workdays []struct {
		Date string `json:"date"`
		For  string `json:"for"`
	} `json:"workdays"`
}

// Calendar says which days are working days in the policy's time zone:
// Monday to Friday, except public holidays, plus the weekend make-up
// working days (调休上班) of the State Council's yearly notice.
type Calendar struct {
	loc      *time.Location
	holidays map[time.Time]string // date (00:00 in loc) → holiday name
	workdays map[time.Time]string // weekend date that is worked → holiday it makes up for
	years    map[int]string       // year → status
}

// ParseCalendar decodes and validates a holidays file for time zone loc.
func ParseCalendar(b []byte, loc *time.Location) (*Calendar, error) {
	var f holidaysFile
	if err := strictjson.Decode(b, &f, maxFileSize); err != nil {
		return nil, fmt.Errorf("holidays: %w", err)
	}
	if f.Format != holidaysFormat {
		return nil, fmt.Errorf("holidays: format %q, want %q", f.Format, holidaysFormat)
	}
	c := &Calendar{loc: loc, holidays: map[time.Time]string{}, workdays: map[time.Time]string{}, years: map[int]string{}}
	var errs []error
	for _, y := range f.Years {
		if err := c.addYear(y); err != nil {
			errs = append(errs, fmt.Errorf("holidays %d: %w", y.Year, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Calendar) addYear(y yearFile) error {
	switch {
	case y.Year < 2000 || y.Year > 2200:
		return errors.New("year out of range")
	case c.years[y.Year] != "":
		return errors.New("year listed twice")
	case y.Status != Published && y.Status != Unpublished:
		return fmt.Errorf("status %q, want %q or %q", y.Status, Published, Unpublished)
	case strings.TrimSpace(y.Source) == "":
		return errors.New("no source cited")
	case y.Status == Unpublished && len(y.Workdays) > 0:
		return errors.New("an unpublished year cannot list make-up working days")
	}
	c.years[y.Year] = y.Status
	var errs []error
	for _, h := range y.Holidays {
		from, err1 := c.parseDate(h.From, y.Year)
		to, err2 := c.parseDate(h.To, y.Year)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h.Name, err))
			continue
		}
		if strings.TrimSpace(h.Name) == "" || to.Before(from) || to.Sub(from) > 15*24*time.Hour {
			errs = append(errs, fmt.Errorf("holiday %q %s..%s: needs a name and a range of at most 16 days", h.Name, h.From, h.To))
			continue
		}
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			if prev, dup := c.holidays[d]; dup {
				errs = append(errs, fmt.Errorf("%s is in both %s and %s", d.Format(time.DateOnly), prev, h.Name))
			}
			c.holidays[d] = h.Name
		}
	}
	for _, w := range y.Workdays {
		d, err := c.parseDate(w.Date, y.Year)
		switch {
		case err != nil:
			errs = append(errs, err)
		case !isWeekend(d):
			errs = append(errs, fmt.Errorf("make-up working day %s is not a Saturday or Sunday", w.Date))
		case c.holidays[d] != "":
			errs = append(errs, fmt.Errorf("make-up working day %s is also a holiday", w.Date))
		case strings.TrimSpace(w.For) == "":
			errs = append(errs, fmt.Errorf("make-up working day %s does not say which holiday it is for", w.Date))
		default:
			c.workdays[d] = w.For
		}
	}
	return errors.Join(errs...)
}

func (c *Calendar) parseDate(s string, year int) (time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, s, c.loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	if d.Year() != year {
		return time.Time{}, fmt.Errorf("date %s is not in %d", s, year)
	}
	return d, nil
}

func isWeekend(d time.Time) bool {
	wd := d.Weekday()
	return wd == time.Saturday || wd == time.Sunday
}

// date is midnight at the start of t's day in the calendar's zone.
func (c *Calendar) date(t time.Time) time.Time {
	y, m, d := t.In(c.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, c.loc)
}

func (c *Calendar) isWorkingDate(d time.Time) bool {
	if _, ok := c.workdays[d]; ok {
		return true
	}
	if _, ok := c.holidays[d]; ok {
		return false
	}
	return !isWeekend(d)
}

// IsWorkingDay reports whether the day containing t is a working day.
func (c *Calendar) IsWorkingDay(t time.Time) bool { return c.isWorkingDate(c.date(t)) }

// Holiday names the public holiday on t's day ("" if none).
func (c *Calendar) Holiday(t time.Time) string { return c.holidays[c.date(t)] }

// MakeUpFor names the holiday a weekend working day on t's day makes up for
// ("" if t's day is not a make-up working day).
func (c *Calendar) MakeUpFor(t time.Time) string { return c.workdays[c.date(t)] }

// Status is Published, Unpublished, or "" for a year the file does not list.
func (c *Calendar) Status(year int) string { return c.years[year] }
