package script

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// Credential resolves keepalived's "user USERNAME [GROUPNAME]": names or
// numeric ids; without a group, the user's primary group; without a user
// (a group alone), the director's own uid. The supplementary groups are
// dropped. Both empty means no change of identity (nil).
func Credential(userName, groupName string) (*syscall.Credential, error) {
	if userName == "" && groupName == "" {
		return nil, nil
	}
	uid, gidText := uint64(os.Getuid()), strconv.Itoa(os.Getgid())
	if userName != "" {
		u, err := user.Lookup(userName)
		if err != nil {
			if _, nerr := strconv.ParseUint(userName, 10, 32); nerr != nil {
				return nil, fmt.Errorf("user %q: %w", userName, err)
			}
			if u, err = user.LookupId(userName); err != nil {
				return nil, fmt.Errorf("user %q: %w", userName, err)
			}
		}
		if uid, err = strconv.ParseUint(u.Uid, 10, 32); err != nil {
			return nil, fmt.Errorf("user %q: uid %q: %w", userName, u.Uid, err)
		}
		gidText = u.Gid
	}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			if _, nerr := strconv.ParseUint(groupName, 10, 32); nerr != nil {
				return nil, fmt.Errorf("group %q: %w", groupName, err)
			}
			gidText = groupName
		} else {
			gidText = g.Gid
		}
	}
	gid, err := strconv.ParseUint(gidText, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("group %q: gid %q: %w", groupName, gidText, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}
