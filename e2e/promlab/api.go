package promlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// maxResponse bounds the body of an API answer the harness reads.
const maxResponse = 16 << 20

// Sample is one element of an instant vector.
type Sample struct {
	Metric map[string]string
	Time   time.Time
	Value  float64
}

// Point is one value of a range vector's series.
type Point struct {
	Time  time.Time
	Value float64
}

// Series is one series of a range vector (a matrix).
type Series struct {
	Metric map[string]string
	Points []Point
}

// Range is a /api/v1/query_range answer: the body as Prometheus sent it
// (for a plot) and the series read from it.
type Range struct {
	Raw    []byte
	Series []Series
}

// Alert states in /api/v1/alerts; an inactive alert is not listed.
const (
	Pending = "pending"
	Firing  = "firing"
)

// Alert is one active alert of /api/v1/alerts.
type Alert struct {
	// Name is the alertname label.
	Name        string
	Labels      map[string]string
	Annotations map[string]string
	// State is Pending or Firing.
	State    string
	ActiveAt time.Time
	Value    string
}

// Query runs an instant query at t (now when t is zero).
func (s *Server) Query(ctx context.Context, expr string, t time.Time) ([]Sample, error) {
	q := url.Values{"query": {expr}}
	if !t.IsZero() {
		q.Set("time", unixString(t))
	}
	body, err := s.get(ctx, "/api/v1/query", q)
	if err != nil {
		return nil, err
	}
	v, err := ParseVector(body)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	return v, nil
}

// QueryRange runs a range query from start to end every step.
func (s *Server) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) (Range, error) {
	q := url.Values{"query": {expr}, "start": {unixString(start)}, "end": {unixString(end)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	body, err := s.get(ctx, "/api/v1/query_range", q)
	if err != nil {
		return Range{}, err
	}
	m, err := ParseMatrix(body)
	if err != nil {
		return Range{}, fmt.Errorf("query_range %q: %w", expr, err)
	}
	return Range{Raw: body, Series: m}, nil
}

// Alerts lists the active (pending and firing) alerts.
func (s *Server) Alerts(ctx context.Context) ([]Alert, error) {
	body, err := s.get(ctx, "/api/v1/alerts", nil)
	if err != nil {
		return nil, err
	}
	return ParseAlerts(body)
}

// get sends GET path?q and returns the body of a 2xx answer, read up to
// maxResponse; an API error names Prometheus's errorType and error.
func (s *Server) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := s.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("prometheus GET %s: %w", path, err)
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("prometheus GET %s: answer longer than %d bytes", path, maxResponse)
	}
	if resp.StatusCode/100 != 2 {
		var e envelope
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("prometheus GET %s: %s: %s: %s", path, resp.Status, e.ErrorType, e.Error)
		}
		return nil, fmt.Errorf("prometheus GET %s: %s", path, resp.Status)
	}
	return body, nil
}

// envelope is every API answer's frame.
type envelope struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// data checks the frame and returns its data.
func data(body []byte) (json.RawMessage, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	if e.Status != "success" {
		return nil, fmt.Errorf("answer: status %q: %s: %s", e.Status, e.ErrorType, e.Error)
	}
	if len(e.Data) == 0 {
		return nil, errors.New("answer: no data")
	}
	return e.Data, nil
}

// result is a query answer's data.
type result struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

func resultOf(body []byte, want string) (json.RawMessage, error) {
	d, err := data(body)
	if err != nil {
		return nil, err
	}
	var r result
	if err := json.Unmarshal(d, &r); err != nil {
		return nil, fmt.Errorf("answer: data: %w", err)
	}
	if r.ResultType != want {
		return nil, fmt.Errorf("answer: resultType %q, want %q", r.ResultType, want)
	}
	return r.Result, nil
}

// ParseVector reads an instant query's answer (resultType vector).
func ParseVector(body []byte) ([]Sample, error) {
	raw, err := resultOf(body, "vector")
	if err != nil {
		return nil, err
	}
	var in []struct {
		Metric map[string]string `json:"metric"`
		Value  pair              `json:"value"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("answer: result: %w", err)
	}
	out := make([]Sample, len(in))
	for i, x := range in {
		out[i] = Sample{Metric: x.Metric, Time: x.Value.t, Value: x.Value.v}
	}
	return out, nil
}

// ParseMatrix reads a range query's answer (resultType matrix).
func ParseMatrix(body []byte) ([]Series, error) {
	raw, err := resultOf(body, "matrix")
	if err != nil {
		return nil, err
	}
	var in []struct {
		Metric map[string]string `json:"metric"`
		Values []pair            `json:"values"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("answer: result: %w", err)
	}
	out := make([]Series, len(in))
	for i, x := range in {
		pts := make([]Point, len(x.Values))
		for j, p := range x.Values {
			pts[j] = Point{Time: p.t, Value: p.v}
		}
		out[i] = Series{Metric: x.Metric, Points: pts}
	}
	return out, nil
}

// ParseAlerts reads /api/v1/alerts' answer.
func ParseAlerts(body []byte) ([]Alert, error) {
	d, err := data(body)
	if err != nil {
		return nil, err
	}
	var in struct {
		Alerts []struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
			State       string            `json:"state"`
			ActiveAt    time.Time         `json:"activeAt"`
			Value       string            `json:"value"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(d, &in); err != nil {
		return nil, fmt.Errorf("answer: alerts: %w", err)
	}
	out := make([]Alert, len(in.Alerts))
	for i, a := range in.Alerts {
		if a.State != Pending && a.State != Firing {
			return nil, fmt.Errorf("answer: alert %q: state %q", a.Labels["alertname"], a.State)
		}
		out[i] = Alert{Name: a.Labels["alertname"], Labels: a.Labels, Annotations: a.Annotations, State: a.State, ActiveAt: a.ActiveAt, Value: a.Value}
	}
	return out, nil
}

// pair is a sample's [unix seconds, "value"].
type pair struct {
	t time.Time
	v float64
}

func (p *pair) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	if len(raw) != 2 {
		return fmt.Errorf("sample: %d elements, want [time, \"value\"]", len(raw))
	}
	var sec float64
	if err := json.Unmarshal(raw[0], &sec); err != nil {
		return fmt.Errorf("sample: time: %w", err)
	}
	var vs string
	if err := json.Unmarshal(raw[1], &vs); err != nil {
		return fmt.Errorf("sample: value: %w", err)
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return fmt.Errorf("sample: value: %w", err)
	}
	whole, frac := math.Modf(sec)
	p.t = time.Unix(int64(whole), int64(math.Round(frac*1e3))*int64(time.Millisecond))
	p.v = v
	return nil
}

// unixString is t as the API's unix seconds with milliseconds.
func unixString(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1e3, 'f', 3, 64)
}

// Find returns the alerts named name in state (any state when state is
// empty).
func Find(alerts []Alert, name, state string) []Alert {
	var out []Alert
	for _, a := range alerts {
		if a.Name == name && (state == "" || a.State == state) {
			out = append(out, a)
		}
	}
	return out
}

// Names returns the names of the alerts in state (any state when empty),
// sorted, each once.
func Names(alerts []Alert, state string) []string {
	var out []string
	for _, a := range alerts {
		if (state == "" || a.State == state) && !slices.Contains(out, a.Name) {
			out = append(out, a.Name)
		}
	}
	slices.Sort(out)
	return out
}

// Select returns the series whose labels include every label of match.
func Select(series []Series, match map[string]string) []Series {
	var out []Series
	for _, s := range series {
		ok := true
		for k, v := range match {
			if s.Metric[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// Values returns a series' values in time order.
func (s Series) Values() []float64 {
	out := make([]float64, len(s.Points))
	for i, p := range s.Points {
		out[i] = p.Value
	}
	return out
}
