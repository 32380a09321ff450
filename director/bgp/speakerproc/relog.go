package speakerproc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// relog re-logs the process's stderr through log: each line a JSON
// record of slog's JSONHandler (level, msg, attributes; its time is
// dropped, log adds its own), any other line as it is, at Warn. A line
// is cut at maxLogLine bytes, the rest of it skipped.
func relog(stderr io.Reader, log *slog.Logger) {
	br := bufio.NewReaderSize(stderr, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		long := errors.Is(err, bufio.ErrBufferFull)
		if len(line) > 0 {
			relogLine(log, bytes.TrimRight(line, "\r\n"), long)
		}
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil {
			return
		}
	}
}

func relogLine(log *slog.Logger, line []byte, cut bool) {
	var rec map[string]any
	if cut || json.Unmarshal(line, &rec) != nil {
		if len(bytes.TrimSpace(line)) > 0 {
			log.Warn("bgp speaker process", "line", string(line), "cut", cut)
		}
		return
	}
	var lvl slog.Level
	if s, ok := rec["level"].(string); !ok || lvl.UnmarshalText([]byte(s)) != nil {
		lvl = slog.LevelInfo
	}
	msg, _ := rec["msg"].(string)
	keys := make([]string, 0, len(rec))
	for k := range rec {
		switch k {
		case "level", "msg", "time":
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, rec[k]))
	}
	log.LogAttrs(context.Background(), lvl, strings.TrimSpace(msg), attrs...)
}
