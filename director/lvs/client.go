package lvs

import "errors"

// Client is the kernel's IPVS table as the reconciler needs it. [Kernel] is
// the real one; lvstest.Fake records calls.
//
// Every method takes the full desired [Service] and [Destination]: the
// implementation must send all fields, never a partial update.
type Client interface {
	// Services lists every service in the namespace, owned or not, with its
	// destinations and their connection counters.
	Services() ([]ServiceState, error)
	// Service reads one service and its destinations. It returns an error
	// wrapping [ErrNotFound] when the kernel has no such service.
	Service(Service) (ServiceState, error)
	NewService(Service) error
	UpdateService(Service) error
	DelService(Service) error
	NewDestination(Service, Destination) error
	UpdateDestination(Service, Destination) error
	DelDestination(Service, Destination) error
}

// ErrNotFound is wrapped by errors about a service or destination the kernel
// does not have.
var ErrNotFound = errors.New("not in the IPVS table")
