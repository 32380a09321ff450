package metrics

import (
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// This file writes Prometheus' text exposition format (version 0.0.4) by
// hand, for the large families (family.go, the IPVS traffic): the bytes
// of a series' name and labels are built once, when the series is
// created, and a scrape appends them and the value. client_golang's path
// (a dto.Metric per series, then its encoder) costs about 3 µs a series;
// this one well under a tenth of it.

// kind is a family's type, as its TYPE line says it.
type kind uint8

const (
	kindGauge kind = iota
	kindCounter
	kindHistogram
)

func (k kind) String() string {
	switch k {
	case kindCounter:
		return "counter"
	case kindHistogram:
		return "histogram"
	}
	return "gauge"
}

// meta is what defines a family: its full name, help text, type and
// label names (sorted, the exposition's order; histograms add le).
type meta struct {
	name   string
	help   string
	kind   kind
	labels []string
	// head is the family's HELP and TYPE lines.
	head string
}

func newMeta(name, help string, k kind, labels []string) meta {
	labels = slices.Clone(labels)
	slices.Sort(labels)
	b := append([]byte("# HELP "), name...)
	b = append(b, ' ')
	b = appendHelp(b, help)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, k.String()...)
	b = append(b, '\n')
	return meta{name: name, help: help, kind: k, labels: labels, head: string(b)}
}

// appendLabels appends `n1="v1",n2="v2"` (no braces), the values escaped.
func appendLabels(b []byte, names, values []string) []byte {
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, n...)
		b = append(b, '=', '"')
		b = appendLabelValue(b, values[i])
		b = append(b, '"')
	}
	return b
}

// appendLabelValue appends v escaped as a label value: backslash, double
// quote and newline; invalid UTF-8 replaced (the format cannot carry it,
// and client_golang refuses it).
func appendLabelValue(b []byte, v string) []byte {
	i := 0
	for i < len(v) && v[i] != '\\' && v[i] != '"' && v[i] != '\n' && v[i] < utf8.RuneSelf {
		i++
	}
	b = append(b, v[:i]...)
	if i == len(v) {
		return b
	}
	v = strings.ToValidUTF8(v[i:], "\uFFFD")
	i = 0
	for ; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendHelp appends a help text escaped: backslash and newline.
func appendHelp(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat appends a sample value as the text format writes it; an
// integer (most values: weights, states, connections) as an integer,
// which is a tenth of the cost and parses back the same.
func appendFloat(b []byte, f float64) []byte {
	if f >= -1e15 && f <= 1e15 && f == math.Trunc(f) {
		return strconv.AppendInt(b, int64(f), 10)
	}
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// flushAt is the size at which a textWriter hands its buffer on: the
// writer's memory is bounded whatever the number of series.
const flushAt = 64 << 10

// textWriter is a buffer in front of the response (or its gzip stream):
// the writing code appends to b and calls maybeFlush after each series.
// After a failed write it keeps discarding, and failed says so, so that
// the writing loops may stop early.
type textWriter struct {
	b   []byte
	w   io.Writer
	err error
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, flushAt+4096); return &b }}

func newTextWriter(w io.Writer) *textWriter {
	return &textWriter{b: (*bufPool.Get().(*[]byte))[:0], w: w}
}

// Write appends p (for expfmt's encoder, which writes the small
// families).
func (t *textWriter) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	t.maybeFlush()
	return len(p), nil
}

func (t *textWriter) maybeFlush() {
	if len(t.b) >= flushAt {
		t.flush()
	}
}

func (t *textWriter) failed() bool { return t.err != nil }

func (t *textWriter) flush() {
	if t.err == nil && len(t.b) > 0 {
		_, t.err = t.w.Write(t.b)
	}
	t.b = t.b[:0]
}

// close flushes and gives the buffer back; the writer is unusable after.
func (t *textWriter) close() error {
	t.flush()
	if b := t.b[:0]; cap(b) <= 4*flushAt {
		bufPool.Put(&b)
	}
	t.b = nil
	return t.err
}
