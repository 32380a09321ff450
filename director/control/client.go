package control

import (
	"context"

	"github.com/tandemlb/tandem/director/reload"
	"github.com/tandemlb/tandem/shared/ctlsock"
)

// Client calls the operations of a running tandem-director. Its errors are
// shared/ctlsock's: ctlsock.ErrNotRoot, ctlsock.ErrNoDaemon (wrapped with
// the path) and *ctlsock.RemoteError for a failure the daemon reports.
type Client struct {
	// Path is the control socket.
	Path string
}

// StatusWith returns the daemon's status with what args ask for besides.
// Zero args send the plain request, without arguments (as before
// StatusArgs existed).
func (c Client) StatusWith(ctx context.Context, args StatusArgs) (Status, error) {
	var a any
	if args != (StatusArgs{}) {
		a = args
	}
	var st Status
	err := ctlsock.Call(ctx, c.Path, OpStatus, a, &st)
	return st, err
}

// Drain starts an operator drain of args.Target.
func (c Client) Drain(ctx context.Context, args DrainArgs) (DrainResult, error) {
	var res DrainResult
	err := ctlsock.Call(ctx, c.Path, OpDrain, args, &res)
	return res, err
}

// Undrain cancels an operator drain of target.
func (c Client) Undrain(ctx context.Context, target string) (DrainResult, error) {
	var res DrainResult
	err := ctlsock.Call(ctx, c.Path, OpUndrain, DrainArgs{Target: target}, &res)
	return res, err
}

// DrainSelf is `drain --self` (on) and `undrain --self`: in BGP mode,
// every VIP of this director withdrawn gracefully, or announced again.
func (c Client) DrainSelf(ctx context.Context, on bool) (DrainSelfResult, error) {
	var res DrainSelfResult
	err := ctlsock.Call(ctx, c.Path, OpDrainSelf, DrainSelfArgs{On: on}, &res)
	return res, err
}

// Reload makes the daemon re-read its configuration.
func (c Client) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	err := ctlsock.Call(ctx, c.Path, OpReload, nil, &res)
	return res, err
}

// ReloadPlan returns what a reload of the file on disk would do; nothing
// is applied.
func (c Client) ReloadPlan(ctx context.Context) (reload.Plan, error) {
	var p reload.Plan
	err := ctlsock.Call(ctx, c.Path, OpReloadPlan, nil, &p)
	return p, err
}

// Failover hands the VIPs to the peer (or, with args.Cancel, ends a
// yield) and returns once the peer holds them, or at args.TimeoutMS: ctx
// should allow that long.
func (c Client) Failover(ctx context.Context, args FailoverArgs) (FailoverResult, error) {
	var res FailoverResult
	err := ctlsock.Call(ctx, c.Path, OpFailover, args, &res)
	return res, err
}
