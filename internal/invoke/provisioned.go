package invoke

import (
	"context"
	"time"

	"github.com/nimbus-dev/nimbus/internal/concurrency"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// The provisioner keeps this node's provisioned environments and the limiter's
// view of reservations in line with the registry: on start, whenever the API
// changes a function's concurrency (Reconcile), and every reconcileEvery to
// replace provisioned environments that died.
const reconcileEvery = 5 * time.Second

type pkey struct{ fn, qualifier string }

type provisionedStatus struct {
	allocated int
	err       string
}

// ProvisionedStatus is what Get/ListProvisionedConcurrencyConfig(s) report for
// one configuration: how many environments are ready, and READY, IN_PROGRESS or
// FAILED.
type ProvisionedStatus struct {
	Allocated    int
	Status       string
	StatusReason string
}

// Reconcile asks the provisioner to act on a configuration change now.
func (s *Service) Reconcile() {
	select {
	case s.reconcile <- struct{}{}:
	default:
	}
}

// Provisioned returns the state of the provisioned configuration of fn's qualifier.
func (s *Service) Provisioned(fn, qualifier string, requested int) ProvisionedStatus {
	s.pmu.Lock()
	st, ok := s.pstatus[pkey{fn, qualifier}]
	s.pmu.Unlock()
	switch {
	case ok && st.err != "" && st.allocated < requested:
		return ProvisionedStatus{Allocated: st.allocated, Status: "FAILED", StatusReason: st.err}
	case ok && st.allocated >= requested:
		return ProvisionedStatus{Allocated: requested, Status: "READY"}
	default:
		return ProvisionedStatus{Allocated: st.allocated, Status: "IN_PROGRESS"}
	}
}

// LoadReservations applies every function's reserved concurrency to the limiter;
// the app calls it before serving so limits hold from the first request.
func (s *Service) LoadReservations() {
	for _, fn := range s.reg.List() {
		if fn.Reserved != nil {
			s.lim.SetReserved(fn.Latest.FunctionName, *fn.Reserved)
		}
	}
}

// RunProvisioner reconciles until ctx ends.
func (s *Service) RunProvisioner(ctx context.Context) error {
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	known := map[string]bool{}
	provisioned := map[pkey]bool{} // (fn, version) pairs given capacity
	for {
		s.reconcileOnce(ctx, known, provisioned)
		select {
		case <-ctx.Done():
			return nil
		case <-s.reconcile:
		case <-t.C:
		}
	}
}

func (s *Service) reconcileOnce(ctx context.Context, known map[string]bool, provisioned map[pkey]bool) {
	fns := s.reg.List()
	seen := map[string]bool{}
	want := map[pkey]int{}         // (fn, version) → environments
	byVersion := map[pkey][]pkey{} // (fn, version) → configurations using it
	requested := map[pkey]int{}    // configuration → requested
	for _, fn := range fns {
		name := fn.Latest.FunctionName
		seen[name] = true
		if fn.Reserved != nil {
			s.lim.SetReserved(name, *fn.Reserved)
		} else if s.lim.Reserved(name) != concurrency.NoReservation {
			s.lim.SetReserved(name, concurrency.NoReservation)
		}
		for q, pc := range fn.Provisioned {
			v, ok := fn.ProvisionedVersion(q)
			if !ok {
				continue
			}
			k := pkey{name, v}
			want[k] += pc.Requested
			byVersion[k] = append(byVersion[k], pkey{name, q})
			requested[pkey{name, q}] = pc.Requested
		}
	}
	for name := range known {
		if !seen[name] {
			s.lim.Forget(name)
		}
	}
	clear(known)
	for name := range seen {
		known[name] = true
	}
	status := map[pkey]provisionedStatus{}
	for k, n := range want {
		fn, _ := s.reg.Get(k.fn)
		if fn == nil {
			continue
		}
		cfg, ok := fn.Version(k.qualifier)
		if !ok {
			continue
		}
		alive, err := s.sched.Provision(ctx, cfg, n)
		s.lim.SetProvisioned(k.fn, k.qualifier, alive)
		provisioned[k] = true
		// Share the ready environments among the configurations on this version, in order.
		for _, c := range byVersion[k] {
			got := min(alive, requested[c])
			alive -= got
			st := provisionedStatus{allocated: got}
			if err != nil {
				st.err = lambda.ServiceError("%v", err).Message
				if ie, ok := lambda.AsError(err); ok {
					st.err = ie.Message
				}
			}
			status[c] = st
		}
	}
	for k := range provisioned {
		if _, ok := want[k]; ok {
			continue
		}
		if fn, ok := s.reg.Get(k.fn); ok {
			if cfg, ok := fn.Version(k.qualifier); ok {
				s.sched.Provision(ctx, cfg, 0)
			}
		}
		s.lim.SetProvisioned(k.fn, k.qualifier, 0)
		delete(provisioned, k)
	}
	s.pmu.Lock()
	s.pstatus = status
	s.pmu.Unlock()
}
