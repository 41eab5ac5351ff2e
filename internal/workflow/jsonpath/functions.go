package jsonpath

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	mrand "math/rand/v2"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// Limits AWS documents for the intrinsic functions.
const (
	maxArrayRange   = 1000
	maxEncodeLength = 10000
)

// javaString renders v the way AWS's States.Format prints an argument: strings
// raw, objects and arrays like Java's Map/List toString.
func javaString(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		b.WriteString(x)
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case jsonv.Number:
		b.WriteString(string(x))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			javaString(b, e)
		}
		b.WriteByte(']')
	case *jsonv.Object:
		b.WriteByte('{')
		for i, m := range x.Members() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(m.Key)
			b.WriteByte('=')
			javaString(b, m.Value)
		}
		b.WriteByte('}')
	}
}

func fnFormat(c *call, args []any, raw []string) (any, error) {
	if len(args) == 0 {
		return nil, c.fail("Function States.Format requires at least one argument")
	}
	tpl, ok := args[0].(string)
	if !ok {
		return nil, c.fail("The first argument of States.Format must be a string, but was %s", jsonv.KindOf(args[0]))
	}
	// Split the template into text and placeholders. In a literal, \{ and \}
	// are literal braces.
	type piece struct {
		text        string
		placeholder bool
	}
	var pieces []piece
	var cur strings.Builder
	src := tpl
	literal := raw[0] != "\x00"
	if literal {
		src = raw[0]
	}
	holes := 0
	for i := 0; i < len(src); i++ {
		ch := src[i]
		if literal && ch == '\\' && i+1 < len(src) {
			cur.WriteByte(src[i+1])
			i++
			continue
		}
		if ch == '{' && i+1 < len(src) && src[i+1] == '}' {
			pieces = append(pieces, piece{text: cur.String()}, piece{placeholder: true})
			cur.Reset()
			holes++
			i++
			continue
		}
		cur.WriteByte(ch)
	}
	pieces = append(pieces, piece{text: cur.String()})
	if holes != len(args)-1 {
		return nil, c.fail("The number of arguments (%d) does not match the number of placeholders (%d) in the format string", len(args)-1, holes)
	}
	var b strings.Builder
	n := 1
	for _, p := range pieces {
		if !p.placeholder {
			b.WriteString(p.text)
			continue
		}
		javaString(&b, args[n])
		n++
	}
	return b.String(), nil
}

func fnStringToJSON(c *call, args []any, _ []string) (any, error) {
	s, ok := args[0].(string)
	if !ok {
		return nil, c.fail("The argument of States.StringToJson must be a string, but was %s", jsonv.KindOf(args[0]))
	}
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	v, err := jsonv.ParseString(s)
	if err != nil {
		return nil, c.fail("The argument of States.StringToJson is not valid JSON: %s", s)
	}
	if n, ok := v.(jsonv.Number); ok && n == "-0" {
		return jsonv.Number("0"), nil
	}
	return v, nil
}

func fnJSONToString(c *call, args []any, _ []string) (any, error) {
	return jsonv.String(args[0]), nil
}

func fnArray(_ *call, args []any, _ []string) (any, error) {
	out := make([]any, len(args))
	copy(out, args)
	return out, nil
}

func (c *call) array(args []any, i int) ([]any, error) {
	a, ok := args[i].([]any)
	if !ok {
		return nil, c.fail("Argument %d of States.%s must be an array, but was %s", i+1, c.name, jsonv.KindOf(args[i]))
	}
	return a, nil
}

func (c *call) integer(args []any, i int) (int64, error) {
	n, ok := args[i].(jsonv.Number)
	if ok {
		if v, ok := n.Int64(); ok {
			return v, nil
		}
	}
	return 0, c.fail("Argument %d of States.%s must be an integer, but was %s", i+1, c.name, jsonv.String(args[i]))
}

func fnArrayPartition(c *call, args []any, _ []string) (any, error) {
	a, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	n, err := c.integer(args, 1)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, c.fail("The chunk size of States.ArrayPartition must be greater than 0, but was %d", n)
	}
	out := []any{}
	for i := 0; i < len(a); i += int(n) {
		end := min(len(a), i+int(n))
		chunk := make([]any, end-i)
		copy(chunk, a[i:end])
		out = append(out, chunk)
	}
	return out, nil
}

func fnArrayContains(c *call, args []any, _ []string) (any, error) {
	a, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	for _, e := range a {
		if jsonv.Equal(e, args[1]) {
			return true, nil
		}
	}
	return false, nil
}

func fnArrayRange(c *call, args []any, _ []string) (any, error) {
	var v [3]int64
	for i := range v {
		n, err := c.integer(args, i)
		if err != nil {
			return nil, err
		}
		v[i] = n
	}
	start, end, step := v[0], v[1], v[2]
	if step == 0 {
		return nil, c.fail("The step of States.ArrayRange must not be 0")
	}
	out := []any{}
	for i := start; (step > 0 && i <= end) || (step < 0 && i >= end); i += step {
		if len(out) == maxArrayRange {
			return nil, c.fail("States.ArrayRange can generate at most %d items", maxArrayRange)
		}
		out = append(out, jsonv.Int(i))
	}
	return out, nil
}

func fnArrayGetItem(c *call, args []any, _ []string) (any, error) {
	a, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	i, err := c.integer(args, 1)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= int64(len(a)) {
		return nil, c.fail("The index %d is out of bounds for an array of length %d", i, len(a))
	}
	return a[i], nil
}

func fnArrayLength(c *call, args []any, _ []string) (any, error) {
	a, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	return jsonv.Int(int64(len(a))), nil
}

func fnArrayUnique(c *call, args []any, _ []string) (any, error) {
	a, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, e := range a {
		dup := false
		for _, o := range out {
			if jsonv.Equal(e, o) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, e)
		}
	}
	return out, nil
}

func (c *call) str(args []any, i int) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", c.fail("Argument %d of States.%s must be a string, but was %s", i+1, c.name, jsonv.KindOf(args[i]))
	}
	return s, nil
}

func fnBase64Encode(c *call, args []any, _ []string) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(s) > maxEncodeLength {
		return nil, c.fail("The input of States.Base64Encode exceeds %d characters", maxEncodeLength)
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func fnBase64Decode(c *call, args []any, _ []string) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(s) > maxEncodeLength {
		return nil, c.fail("The input of States.Base64Decode exceeds %d characters", maxEncodeLength)
	}
	b, derr := base64.StdEncoding.DecodeString(s)
	if derr != nil {
		return nil, c.fail("The input of States.Base64Decode is not valid base64: %s", s)
	}
	return strings.ToValidUTF8(string(b), "\ufffd"), nil
}

func fnHash(c *call, args []any, _ []string) (any, error) {
	var data string
	if s, ok := args[0].(string); ok {
		data = s
	} else {
		data = jsonv.String(args[0])
	}
	if utf8.RuneCountInString(data) > maxEncodeLength {
		return nil, c.fail("The input of States.Hash exceeds %d characters", maxEncodeLength)
	}
	alg, err := c.str(args, 1)
	if err != nil {
		return nil, err
	}
	var h hash.Hash
	switch alg {
	case "MD5":
		h = md5.New()
	case "SHA-1":
		h = sha1.New()
	case "SHA-256":
		h = sha256.New()
	case "SHA-384":
		h = sha512.New384()
	case "SHA-512":
		h = sha512.New()
	default:
		return nil, c.fail("The hash algorithm %s is not supported; use one of MD5, SHA-1, SHA-256, SHA-384, SHA-512", alg)
	}
	h.Write([]byte(data))
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fnJSONMerge(c *call, args []any, _ []string) (any, error) {
	a, ok1 := args[0].(*jsonv.Object)
	b, ok2 := args[1].(*jsonv.Object)
	if !ok1 || !ok2 {
		return nil, c.fail("The first two arguments of States.JsonMerge must be objects")
	}
	deep, ok := args[2].(bool)
	if !ok {
		return nil, c.fail("The third argument of States.JsonMerge must be a boolean")
	}
	if deep {
		return nil, c.fail("States.JsonMerge does not support deep merging; the third argument must be false")
	}
	out := jsonv.NewObject(a.Len() + b.Len())
	for _, m := range a.Members() {
		out.Set(m.Key, m.Value)
	}
	for _, m := range b.Members() {
		out.Set(m.Key, m.Value)
	}
	return out, nil
}

func (c *call) number(args []any, i int) (float64, error) {
	n, ok := args[i].(jsonv.Number)
	if !ok {
		return 0, c.fail("Argument %d of States.%s must be a number, but was %s", i+1, c.name, jsonv.KindOf(args[i]))
	}
	return n.Float64(), nil
}

// javaRound is Java's Math.round: half up, towards positive infinity.
func javaRound(f float64) int64 { return int64(math.Floor(f + 0.5)) }

func fnMathRandom(c *call, args []any, _ []string) (any, error) {
	lo, err := c.number(args, 0)
	if err != nil {
		return nil, err
	}
	hi, err := c.number(args, 1)
	if err != nil {
		return nil, err
	}
	const limit = 1 << 53
	if math.Abs(lo) > limit || math.Abs(hi) > limit {
		return nil, c.fail("The range of States.MathRandom must be within ±2^53")
	}
	start, end := int64(lo), int64(hi)
	if end <= start {
		return nil, c.fail("The end of States.MathRandom's range must be greater than its start")
	}
	var r *mrand.Rand
	if len(args) == 3 {
		seed, err := c.integer(args, 2)
		if err != nil {
			return nil, err
		}
		r = mrand.New(mrand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	} else {
		var b [16]byte
		rand.Read(b[:])
		r = mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])))
	}
	return jsonv.Int(start + r.Int64N(end-start)), nil
}

func fnMathAdd(c *call, args []any, _ []string) (any, error) {
	a, err := c.number(args, 0)
	if err != nil {
		return nil, err
	}
	b, err := c.number(args, 1)
	if err != nil {
		return nil, err
	}
	return jsonv.Int(javaRound(a) + javaRound(b)), nil
}

func fnStringSplit(c *call, args []any, _ []string) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	d, err := c.str(args, 1)
	if err != nil {
		return nil, err
	}
	fields := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(d, r) })
	out := make([]any, len(fields))
	for i, f := range fields {
		out[i] = f
	}
	return out, nil
}

func fnUUID(c *call, args []any, _ []string) (any, error) {
	return NewUUID(), nil
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
