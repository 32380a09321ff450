package mail

import (
	"context"
	"log/slog"
	"time"
)

// Results passed to QueueOptions.Result.
const (
	ResultSent    = "sent"    // the server took the message
	ResultError   = "error"   // the session failed (logged)
	ResultDropped = "dropped" // the queue was full, or the flush time ran out at stop
)

// DefaultQueueLen is the number of messages a Queue holds.
const DefaultQueueLen = 64

// DefaultFlushTime is how long a stopping Queue goes on sending what it
// holds (the STOP alerts of a shutdown).
const DefaultFlushTime = 2 * time.Second

// QueueOptions configure a Queue; every field is optional.
type QueueOptions struct {
	// Log receives one line per failed or dropped message.
	Log *slog.Logger
	// Result is called once per message with ResultSent, ResultError or
	// ResultDropped (metrics). It must not block.
	Result func(result string)
	// Len is the queue length (0: DefaultQueueLen).
	Len int
	// FlushTime bounds the sending after Run's context ended (0:
	// DefaultFlushTime).
	FlushTime time.Duration
	// Send replaces Server.Send (tests).
	Send func(ctx context.Context, s Server, m Message) error
}

type job struct {
	srv Server
	msg Message
}

// Queue sends messages in the background, one at a time, in order.
// Enqueue never blocks.
type Queue struct {
	opts QueueOptions
	ch   chan job
}

// NewQueue returns a queue; it does nothing until Run.
func NewQueue(opts QueueOptions) *Queue {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Len <= 0 {
		opts.Len = DefaultQueueLen
	}
	if opts.FlushTime <= 0 {
		opts.FlushTime = DefaultFlushTime
	}
	if opts.Send == nil {
		opts.Send = func(ctx context.Context, s Server, m Message) error { return s.Send(ctx, m) }
	}
	return &Queue{opts: opts, ch: make(chan job, opts.Len)}
}

// Enqueue queues m for s. It returns false, and logs and counts the
// message as dropped, when the queue is full.
func (q *Queue) Enqueue(s Server, m Message) bool {
	select {
	case q.ch <- job{s, m}:
		return true
	default:
		q.drop(job{s, m}, "queue full")
		return false
	}
}

// Run sends the queued messages until ctx ends, then goes on with what is
// still queued for at most FlushTime (a session in progress is cut at that
// point) and returns nil.
func (q *Queue) Run(ctx context.Context) error {
	hard, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() { // FlushTime after ctx ends, cut what is still going on
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		t := time.NewTimer(q.opts.FlushTime)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-done:
		}
	}()
	for {
		select {
		case j := <-q.ch:
			q.deliver(hard, j)
		case <-ctx.Done():
			for {
				select {
				case j := <-q.ch:
					q.deliver(hard, j)
				default:
					return nil
				}
			}
		}
	}
}

func (q *Queue) deliver(ctx context.Context, j job) {
	if ctx.Err() != nil { // the flush time ran out
		q.drop(j, "stopping")
		return
	}
	err := q.opts.Send(ctx, j.srv, j.msg)
	if err != nil {
		q.opts.Log.Error("e-mail alert not sent", "server", j.srv.Addr, "subject", j.msg.Subject, "err", err)
		q.result(ResultError)
		return
	}
	q.opts.Log.Debug("e-mail alert sent", "server", j.srv.Addr, "subject", j.msg.Subject, "count", len(j.msg.To))
	q.result(ResultSent)
}

func (q *Queue) drop(j job, why string) {
	q.opts.Log.Error("e-mail alert dropped", "server", j.srv.Addr, "subject", j.msg.Subject, "reason", why)
	q.result(ResultDropped)
}

func (q *Queue) result(r string) {
	if q.opts.Result != nil {
		q.opts.Result(r)
	}
}
