package triage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxLine bounds one input line; a longer line is reported and skipped.
const maxLine = 1 << 20

// RunCLI is `whistle triage`: JSON lines in, one JSON line out per input line,
// in order. A malformed line yields {"line":N,"error":"…"} and processing
// continues; failed counts those lines (the caller exits 2 when it is not
// zero). err reports only a failure to read or write.
func RunCLI(stdin io.Reader, stdout io.Writer) (failed int, err error) {
	r, err := New()
	if err != nil {
		return 0, err
	}
	in := bufio.NewReaderSize(stdin, 64<<10)
	out := bufio.NewWriterSize(stdout, 64<<10)
	var buf []byte
	for lineNo := 1; ; lineNo++ {
		line, tooLong, rerr := readLine(in)
		if rerr != nil && rerr != io.EOF {
			return failed, rerr
		}
		if rerr == io.EOF && len(line) == 0 && !tooLong {
			break
		}
		buf = buf[:0]
		switch rep, derr := decodeReport(line); {
		case tooLong:
			failed++
			buf = appendError(buf, lineNo, fmt.Sprintf("行过长（超过 %d 字节）", maxLine))
		case len(bytes.TrimSpace(line)) == 0:
			// a blank line carries no report and is no error
		case derr != nil:
			failed++
			buf = appendError(buf, lineNo, derr.Error())
		default:
			buf = appendDecision(buf, rep.ID, r.Route(rep))
		}
		if _, werr := out.Write(buf); werr != nil {
			return failed, werr
		}
		if rerr == io.EOF {
			break
		}
	}
	return failed, out.Flush()
}

// readLine returns the next line without its terminator; a line longer than
// maxLine is consumed and reported with tooLong.
func readLine(in *bufio.Reader) (line []byte, tooLong bool, err error) {
	var acc []byte
	for {
		chunk, err := in.ReadSlice('\n')
		if !tooLong {
			if len(acc)+len(chunk) > maxLine+2 {
				tooLong, acc = true, nil
			} else if err == bufio.ErrBufferFull || acc != nil {
				acc = append(acc, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			return nil, true, err
		}
		if acc != nil {
			chunk = acc
		}
		chunk = bytes.TrimSuffix(chunk, []byte("\n"))
		chunk = bytes.TrimSuffix(chunk, []byte("\r"))
		return chunk, false, err
	}
}

// errSyntax and friends are the messages of malformed lines (zh-CN, shown to
// whoever runs the command).
var (
	errNotObject = errors.New("不是 JSON 对象")
	errSyntax    = errors.New("JSON 语法错误")
	errNoText    = errors.New("缺少 text 字段或内容为空")
)

// decodeReport parses one input line: a flat JSON object whose known fields
// are strings (or null); other fields are skipped whatever their type.
func decodeReport(b []byte) (Report, error) {
	var rep Report
	d := decoder{b: b}
	d.space()
	if !d.eat('{') {
		return rep, errNotObject
	}
	d.space()
	if !d.eat('}') {
		for {
			d.space()
			key, ok := d.str()
			if !ok {
				return rep, errSyntax
			}
			d.space()
			if !d.eat(':') {
				return rep, errSyntax
			}
			d.space()
			var field *string
			switch key {
			case "id":
				field = &rep.ID
			case "channel":
				field = &rep.Channel
			case "city":
				field = &rep.City
			case "county":
				field = &rep.County
			case "text":
				field = &rep.Text
			}
			if field != nil {
				switch {
				case d.peek() == '"':
					v, ok := d.str()
					if !ok {
						return rep, errSyntax
					}
					*field = v
				case d.literal("null"):
					*field = ""
				default:
					return rep, fmt.Errorf("字段 %s 必须是字符串", key)
				}
			} else if !d.skipValue(0) {
				return rep, errSyntax
			}
			d.space()
			if d.eat(',') {
				continue
			}
			if d.eat('}') {
				break
			}
			return rep, errSyntax
		}
	}
	d.space()
	if d.i != len(d.b) {
		return rep, errSyntax
	}
	if len(bytes.TrimSpace([]byte(rep.Text))) == 0 {
		return rep, errNoText
	}
	return rep, nil
}

type decoder struct {
	b []byte
	i int
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) eat(c byte) bool {
	if d.peek() == c && d.i < len(d.b) {
		d.i++
		return true
	}
	return false
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) literal(s string) bool {
	if bytes.HasPrefix(d.b[d.i:], []byte(s)) {
		d.i += len(s)
		return true
	}
	return false
}

// str decodes a JSON string; invalid UTF-8 becomes U+FFFD as in encoding/json.
func (d *decoder) str() (string, bool) {
	if !d.eat('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.b) { // fast path: no escapes, valid UTF-8
		c := d.b[d.i]
		if c == '"' {
			if utf8.Valid(d.b[start:d.i]) {
				d.i++
				return string(d.b[start : d.i-1]), true
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.i++
	}
	d.i = start
	out := make([]byte, 0, 64)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out), true
		case c < 0x20:
			return "", false
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return "", false
			}
			e := d.b[d.i]
			d.i++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						save := d.i
						d.i += 2
						if v, ok := d.hex4(); ok {
							r2 = v
						} else {
							return "", false
						}
						if utf16.DecodeRune(r, r2) == utf8.RuneError {
							d.i = save // not a pair: the second escape stands alone
							r2 = -1
						}
					}
					if r2 >= 0 {
						r = utf16.DecodeRune(r, r2)
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", false
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			d.i++
		default:
			r, n := utf8.DecodeRune(d.b[d.i:])
			out = utf8.AppendRune(out, r)
			d.i += n
		}
	}
	return "", false
}

func (d *decoder) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(d.b[d.i:d.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	d.i += 4
	return rune(v), true
}

// skipValue skips any JSON value, nested at most 64 deep.
func (d *decoder) skipValue(depth int) bool {
	if depth > 64 {
		return false
	}
	d.space()
	switch c := d.peek(); {
	case c == '"':
		_, ok := d.str()
		return ok
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		d.i++
		d.space()
		if d.eat(closer) {
			return true
		}
		for {
			d.space()
			if c == '{' {
				if _, ok := d.str(); !ok {
					return false
				}
				d.space()
				if !d.eat(':') {
					return false
				}
			}
			if !d.skipValue(depth + 1) {
				return false
			}
			d.space()
			if d.eat(',') {
				continue
			}
			return d.eat(closer)
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		start := d.i
		for d.i < len(d.b) && bytes.IndexByte([]byte("+-.eE0123456789"), d.b[d.i]) >= 0 {
			d.i++
		}
		_, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
		return err == nil
	}
	return false
}

// appendDecision writes the output line of the CLI contract.
func appendDecision(b []byte, id string, d Decision) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"lead":`...)
	b = appendString(b, d.Lead)
	b = append(b, `,"assist":`...)
	b = appendStrings(b, d.Assist)
	b = append(b, `,"principle":`...)
	b = appendString(b, d.Principle)
	b = append(b, `,"basis":`...)
	b = appendStrings(b, d.Basis)
	b = append(b, `,"kind":`...)
	b = appendString(b, d.Kind)
	b = append(b, `,"urgent":`...)
	b = strconv.AppendBool(b, d.Urgent)
	b = append(b, `,"jurisdiction":{"city":`...)
	b = appendString(b, d.Jurisdiction.City)
	b = append(b, `,"county":`...)
	b = appendString(b, d.Jurisdiction.County)
	b = append(b, `},"confidence":`...)
	b = strconv.AppendFloat(b, d.Confidence, 'f', -1, 64)
	b = append(b, `,"explanation":`...)
	b = appendString(b, d.Explanation)
	b = append(b, `,"referral":`...)
	b = strconv.AppendBool(b, d.Referral)
	b = append(b, `,"escalate":`...)
	b = strconv.AppendBool(b, d.Escalate)
	b = append(b, `,"jurisdiction_ambiguous":`...)
	b = strconv.AppendBool(b, d.Jurisdiction.Ambiguous)
	return append(b, "}\n"...)
}

func appendError(b []byte, line int, msg string) []byte {
	b = append(b, `{"line":`...)
	b = strconv.AppendInt(b, int64(line), 10)
	b = append(b, `,"error":`...)
	b = appendString(b, msg)
	return append(b, "}\n"...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendString writes s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced, U+2028/2029 escaped so the line
// is also safe JavaScript.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case '\u2028':
				b = append(b, `\u2028`...)
			case '\u2029':
				b = append(b, `\u2029`...)
			default:
				b = append(b, `\ufffd`...)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
