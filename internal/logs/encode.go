package logs

import (
	"time"
	"unicode/utf8"
)

// appendEntry appends one json-file line to dst:
//
//	{"log":"<line>","stream":"<stream>","time":"<RFC 3339, ns, UTC>"}\n
//
// streamSuffix is the precomputed `","stream":"stdout","time":"` part (see
// entrySuffix). The key order and the escaping are Docker's (jsonlog's
// MarshalJSONBuf), so files are byte-for-byte what dockerd writes; the
// optional "attrs" object, which Docker puts between "stream" and "time",
// is never written.
func appendEntry(dst []byte, line []byte, newline bool, streamSuffix []byte, t time.Time) []byte {
	dst = append(dst, `{"log":"`...)
	dst = appendEscaped(dst, line)
	if newline {
		dst = append(dst, `\n`...)
	}
	dst = append(dst, streamSuffix...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, "\"}\n"...)
}

// entrySuffix is what follows the log text for one stream. Docker leaves
// the "stream" key out when the source is empty.
func entrySuffix(stream string) []byte {
	b := []byte(`"`)
	if stream != "" {
		b = append(b, `,"stream":"`...)
		b = appendEscaped(b, []byte(stream))
		b = append(b, '"')
	}
	return append(b, `,"time":"`...)
}

// plain marks the ASCII bytes that are copied as they are. Docker escapes
// control characters, the quote and backslash, and (like encoding/json's
// HTML-safe mode) <, > and &.
var plain = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendEscaped appends s as the inside of a JSON string, escaped exactly
// as Docker's json-file driver does: \n, \r, \" and \\ get short escapes,
// every other control character, <, > and & become \u00XX, invalid UTF-8
// bytes become \ufffd each, and U+2028/U+2029 are escaped for JavaScript.
// Tabs are \u0009, not \t: that is what Docker writes.
func appendEscaped(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if plain[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}
