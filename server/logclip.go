package server

import (
	"fmt"
	"unicode/utf8"
)

// maxLogString bounds every client-supplied string a log line carries (a
// path, a method, a name from a body, an error that quotes them): a request
// with a 900 KB path must not write a 900 KB line on its 404.
const maxLogString = 256

// clip returns s cut to maxLogString bytes, on a rune boundary, marked with
// its full length: "…(912345 bytes)".
func clip(s string) string {
	if len(s) <= maxLogString {
		return s
	}
	cut := maxLogString
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}

// clipErr is clip for an error's text.
func clipErr(err error) string {
	if err == nil {
		return ""
	}
	return clip(err.Error())
}
