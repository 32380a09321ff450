package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Bounds of a Prometheus response: far above a lab's few minutes at a
// 1 s step, far below what would hurt.
const (
	maxSeries       = 64
	maxPoints       = 100_000 // per series
	maxLabels       = 32      // per series
	maxLegend       = 60      // bytes of a legend
	maxDataFileSize = 16 << 20
)

// Series is one time series of a range query: its labels and its points
// in time order.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Point is a sample: T in seconds since the epoch, V its value (NaN and
// ±Inf as Prometheus writes them).
type Point struct{ T, V float64 }

// promResponse is the body of Prometheus's /api/v1/query_range.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	} `json:"data"`
}

type promSeries struct {
	Metric map[string]string `json:"metric"`
	Values []json.RawMessage `json:"values"`
}

// parseMatrix reads a query_range response body: a "success" with a
// "matrix" result. name is the file, for errors (`name: field: …`).
func parseMatrix(name string, body []byte) ([]Series, error) {
	if len(body) > maxDataFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxDataFileSize)
	}
	var r promResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: status %q (%s: %s), want \"success\"", name, r.Status, r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("%s: data.resultType %q, want \"matrix\" (a range query)", name, r.Data.ResultType)
	}
	if len(r.Data.Result) == 0 {
		return nil, fmt.Errorf("%s: data.result: no series", name)
	}
	if len(r.Data.Result) > maxSeries {
		return nil, fmt.Errorf("%s: data.result: %d series, at most %d", name, len(r.Data.Result), maxSeries)
	}
	out := make([]Series, 0, len(r.Data.Result))
	for i, raw := range r.Data.Result {
		field := fmt.Sprintf("data.result[%d]", i)
		var ps promSeries
		if err := json.Unmarshal(raw, &ps); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, field, err)
		}
		if len(ps.Metric) > maxLabels {
			return nil, fmt.Errorf("%s: %s.metric: %d labels, at most %d", name, field, len(ps.Metric), maxLabels)
		}
		if len(ps.Values) > maxPoints {
			return nil, fmt.Errorf("%s: %s.values: %d points, at most %d", name, field, len(ps.Values), maxPoints)
		}
		s := Series{Labels: ps.Metric, Points: make([]Point, 0, len(ps.Values))}
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		for j, v := range ps.Values {
			p, err := parsePoint(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %s.values[%d]: %w", name, field, j, err)
			}
			if n := len(s.Points); n > 0 && p.T <= s.Points[n-1].T {
				return nil, fmt.Errorf("%s: %s.values[%d]: time %v not after %v", name, field, j, p.T, s.Points[n-1].T)
			}
			s.Points = append(s.Points, p)
		}
		out = append(out, s)
	}
	return out, nil
}

// parsePoint reads [1733580000.123, "3"].
func parsePoint(raw json.RawMessage) (Point, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return Point{}, fmt.Errorf("%s: want [time, \"value\"]", short(raw))
	}
	var t float64
	if err := json.Unmarshal(pair[0], &t); err != nil {
		return Point{}, fmt.Errorf("time %s: not a number", short(pair[0]))
	}
	if t < 0 {
		return Point{}, fmt.Errorf("time %s: before 1970", short(pair[0]))
	}
	var vs string
	if err := json.Unmarshal(pair[1], &vs); err != nil {
		return Point{}, fmt.Errorf("value %s: not a string", short(pair[1]))
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return Point{}, fmt.Errorf("value %q: not a number", short([]byte(vs)))
	}
	return Point{T: t, V: v}, nil
}

func short(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// legendOrder is which labels name a series first, when several differ.
var legendOrder = []string{"rs", "director", "instance", "vrrp_instance", "service", "job"}

// legends names each series by the labels whose values differ between
// them, in legendOrder: the first of them alone when its values already
// tell every series apart (`rs`: "192.0.2.101:80"), else as many as it
// takes, "k=v, k=v"; a single series, or series that differ in no label,
// are named by fallback (with a number when there are several).
func legends(ss []Series, fallback string) []string {
	keys := map[string]bool{}
	for _, s := range ss {
		for k := range s.Labels {
			if k != "__name__" {
				keys[k] = true
			}
		}
	}
	var differ []string
	for k := range keys {
		for _, s := range ss[1:] {
			v0, ok0 := ss[0].Labels[k]
			v, ok := s.Labels[k]
			if v != v0 || ok != ok0 {
				differ = append(differ, k)
				break
			}
		}
	}
	rank := func(k string) int {
		if i := slices.Index(legendOrder, k); i >= 0 {
			return i
		}
		return len(legendOrder)
	}
	sort.Slice(differ, func(i, j int) bool {
		if ri, rj := rank(differ[i]), rank(differ[j]); ri != rj {
			return ri < rj
		}
		return differ[i] < differ[j]
	})
	// One label that every series has: its value alone.
	plain := func(keys []string) bool {
		if len(keys) != 1 {
			return false
		}
		for _, s := range ss {
			if s.Labels[keys[0]] == "" {
				return false
			}
		}
		return true
	}
	name := func(s Series, keys []string) string {
		if plain(keys) {
			return s.Labels[keys[0]]
		}
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+s.Labels[k])
		}
		return strings.Join(parts, ", ")
	}
	out := make([]string, len(ss))
	for n := 1; n <= len(differ); n++ {
		seen := map[string]bool{}
		for i, s := range ss {
			out[i] = name(s, differ[:n])
			seen[out[i]] = true
		}
		if len(seen) == len(ss) {
			break
		}
	}
	for i := range out {
		switch {
		case len(differ) == 0 && len(ss) == 1:
			out[i] = fallback
		case len(differ) == 0:
			out[i] = fmt.Sprintf("%s %d", fallback, i+1)
		}
		out[i] = cleanText(out[i])
	}
	return out
}

// cleanText makes a label safe for a TSV header and a gnuplot string (the
// scripts turn enhanced text off): no control characters, quotes or
// backslashes, at most maxLegend bytes.
func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\'' || r == '"' || r == '\\' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxLegend {
		cut := maxLegend
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if s == "" {
		return "?"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }
