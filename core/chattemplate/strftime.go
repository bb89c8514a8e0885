package chattemplate

import (
	"strconv"
	"strings"
	"time"
)

// strftime formats t with a C strftime pattern, as Python's
// datetime.strftime does on glibc (including the "%-d" no-padding form that
// Llama 3.1's template uses). Unknown directives are copied unchanged.
func strftime(t time.Time, format string) string {
	var b strings.Builder
	pad := func(n, width int, noPad bool) {
		s := strconv.Itoa(n)
		if !noPad {
			for i := len(s); i < width; i++ {
				b.WriteByte('0')
			}
		}
		b.WriteString(s)
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		noPad := false
		if format[i] == '-' && i+1 < len(format) {
			noPad = true
			i++
		}
		switch format[i] {
		case 'Y':
			pad(t.Year(), 4, noPad)
		case 'y':
			pad(t.Year()%100, 2, noPad)
		case 'm':
			pad(int(t.Month()), 2, noPad)
		case 'd':
			pad(t.Day(), 2, noPad)
		case 'e':
			if noPad || t.Day() >= 10 {
				b.WriteString(strconv.Itoa(t.Day()))
			} else {
				b.WriteString(" " + strconv.Itoa(t.Day()))
			}
		case 'H':
			pad(t.Hour(), 2, noPad)
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			pad(h, 2, noPad)
		case 'M':
			pad(t.Minute(), 2, noPad)
		case 'S':
			pad(t.Second(), 2, noPad)
		case 'f':
			pad(t.Nanosecond()/1000, 6, noPad)
		case 'j':
			pad(t.YearDay(), 3, noPad)
		case 'p':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'b', 'h':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'w':
			b.WriteString(strconv.Itoa(int(t.Weekday())))
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			b.WriteString(strconv.Itoa(wd))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			if noPad {
				b.WriteByte('-')
			}
			b.WriteByte(format[i])
		}
	}
	return b.String()
}
