package track

import "fmt"

// Kind is the kind of a tracked object.
type Kind int

// The kinds of tracked objects.
const (
	KindScript    Kind = iota + 1 // vrrp_script / track_script
	KindProcess                   // vrrp_track_process / track_process
	KindFile                      // track_file (vrrp_track_file)
	KindInterface                 // track_interface
)

// String returns the keepalived-style name of the kind.
func (k Kind) String() string {
	switch k {
	case KindScript:
		return "script"
	case KindProcess:
		return "process"
	case KindFile:
		return "file"
	case KindInterface:
		return "interface"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// OwnerPriority is the priority of the address owner (RFC 5798 §5.2.4).
const OwnerPriority = 255

// Input is one tracked object as a VRRP instance sees it: the weight and
// reverse flag come from the instance's track_* line (or the tracker's
// default), the state from the tracker's latest Update.
type Input struct {
	Kind Kind
	Name string
	// Weight is the tracking weight. Script and interface weights are
	// limited to -253..253 (keepalived turns ±254 into ±253), process and
	// file weights to -254..254; a value outside is clamped to that range.
	// 0 means "FAULT on failure".
	Weight int
	// Reverse is keepalived's "reverse": it flips the sign of the
	// adjustment, and for weight 0 it puts the instance in FAULT while the
	// object is OK instead of while it has failed.
	Reverse bool
	// OK is the object's state: script succeeded, process quorum held,
	// interface up. Unused for files.
	OK bool
	// Pending is true for a script that has not completed a run yet
	// (keepalived's script init state, not with init_fail): it adds no
	// weight, and with weight 0 it holds the instance in FAULT until the
	// first result, as keepalived keeps such an instance out of
	// BACKUP/MASTER.
	Pending bool
	// Value is the integer read from a tracked file. Unused for other
	// kinds.
	Value int64
}

// Effective computes an instance's effective priority and the reasons it
// must be in FAULT, from its configured priority base and its tracked
// objects, with keepalived 2.2.7's rules (vrrp_track.c,
// trackers/track_file.c):
//
//   - Scripts, processes, interfaces with weight 0: the instance is in
//     FAULT while the object has failed (with Reverse: while it is OK).
//   - Weight > 0: the weight is added while the object is OK (with
//     Reverse: subtracted while OK). Weight < 0: the weight is added, i.e.
//     subtracted, while the object has failed (with Reverse: |weight| is
//     added while failed).
//   - Files: with weight 0 a non-zero value means FAULT (with Reverse: a
//     zero value means FAULT). Otherwise value × weight (× -1 with
//     Reverse), clamped to -254..253, is added; a result of -254 or less
//     means FAULT.
//   - The sum is clamped to 1..254.
//   - The address owner (base 255) keeps 255: keepalived never changes an
//     owner's priority (vrrp_set_effective_priority returns early), so
//     weights are ignored; weight-0 trackers still put it in FAULT.
//
// faults is nil when the instance may run; otherwise one line per cause,
// in input order, e.g. `script chk_haproxy: failed`.
func Effective(base uint8, in []Input) (prio uint8, faults []string) {
	total := int64(base)
	for _, t := range in {
		mult := int64(1)
		if t.Reverse {
			mult = -1
		}
		label := t.Kind.String() + " " + t.Name
		if t.Kind == KindFile {
			w := int64(clampInt(t.Weight, -254, 254))
			if w == 0 {
				if (t.Value != 0) != t.Reverse {
					faults = append(faults, fmt.Sprintf("%s: value %d%s", label, t.Value, reverseNote(t.Reverse)))
				}
				continue
			}
			st := clamp64(mulClamp(t.Value, w*mult), -254, 253)
			if st == -254 {
				faults = append(faults, fmt.Sprintf("%s: value %d × weight %d%s reaches -254", label, t.Value, w, reverseNote(t.Reverse)))
				continue
			}
			total += st
			continue
		}
		lim := 253
		if t.Kind == KindProcess {
			lim = 254
		}
		w := int64(clampInt(t.Weight, -lim, lim))
		if t.Pending {
			if w == 0 {
				faults = append(faults, label+": no result yet")
			}
			continue
		}
		switch {
		case w == 0:
			if t.OK == t.Reverse {
				faults = append(faults, fmt.Sprintf("%s: %s%s", label, stateWord(t.Kind, t.OK), reverseNote(t.Reverse)))
			}
		case w > 0 && t.OK:
			total += w * mult
		case w < 0 && !t.OK:
			total += w * mult
		}
	}
	if base == OwnerPriority {
		return OwnerPriority, faults
	}
	return uint8(clamp64(total, 1, OwnerPriority-1)), faults
}

func reverseNote(r bool) string {
	if r {
		return " (reverse)"
	}
	return ""
}

func stateWord(k Kind, ok bool) string {
	switch k {
	case KindScript:
		if ok {
			return "succeeded"
		}
		return "failed"
	case KindProcess:
		if ok {
			return "quorum held"
		}
		return "quorum lost"
	}
	if ok {
		return "up"
	}
	return "down"
}

func clampInt(v, lo, hi int) int {
	return min(max(v, lo), hi)
}

func clamp64(v, lo, hi int64) int64 {
	return min(max(v, lo), hi)
}

// mulClamp multiplies a by b (|b| ≤ 254), saturating instead of
// overflowing.
func mulClamp(a, b int64) int64 {
	const lim = int64(1) << 53
	a = clamp64(a, -lim, lim)
	return a * b
}
