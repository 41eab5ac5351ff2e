package asl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// jacksonError phrases a JSON syntax error the way Jackson (which AWS uses)
// does, returning the message and the location.
func jacksonError(text []byte, err error) (msg, loc string) {
	off := 0
	if se, ok := errors.AsType[*jsonv.SyntaxError](err); ok {
		off = se.Offset
	}
	// Jackson reports unrecognized bare words as a whole token.
	end := off
	for end < len(text) && (isWordByte(text[end])) {
		end++
	}
	line, col := 1, 1
	for i := 0; i < end && i < len(text); i++ {
		if text[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	src := string(text)
	if len(src) > 500 {
		src = src[:500] + "[truncated]"
	}
	loc = fmt.Sprintf("[Source: (String)%q; line: %d, column: %d]", src, line, col)
	if end > off {
		word := string(text[off:end])
		return fmt.Sprintf("Unrecognized token '%s': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')\n at %s", word, loc), loc
	}
	if off >= len(text) {
		return "Unexpected end-of-input\n at " + loc, loc
	}
	c := text[off]
	return fmt.Sprintf("Unexpected character ('%c' (code %d)): %s\n at %s", c, c, strings.TrimPrefix(err.Error(), "invalid JSON"), loc), loc
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}
