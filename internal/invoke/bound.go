package invoke

import (
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// boundMargin covers what the platform adds to the function's own time limits
// (starting the process, handing the event over, reading the answer).
const boundMargin = time.Second

// MaxDuration says how long a synchronous invocation of ref (a name,
// name:qualifier or ARN) can take at the most: the init limit plus the
// longest timeout among the versions ref may run (an alias's two versions),
// plus a margin. ok is false when there is no bound: the function does not
// exist, or it runs under a debugger (timeouts suspended). It has no side
// effects (an alias's weighted routing does not advance), so a caller can ask
// before invoking, e.g. to wait on its own goroutine instead of another one
// when the invocation cannot outlast its wait.
func (s *Service) MaxDuration(ref string) (d time.Duration, ok bool) {
	name, q, err := lambda.ParseFunctionRef(ref, "")
	if err != nil {
		return 0, false
	}
	fn, found := s.reg.Get(name)
	if !found || s.sched.Debugging(name) != nil {
		return 0, false
	}
	versions := []string{q}
	if a, isAlias := fn.Aliases[q]; isAlias {
		versions = []string{a.FunctionVersion}
		if a.RoutingConfig != nil {
			for v := range a.RoutingConfig.AdditionalVersionWeights {
				versions = append(versions, v)
			}
		}
	}
	longest := 0
	for _, v := range versions {
		cfg, exists := fn.Version(v)
		if !exists {
			return 0, false
		}
		longest = max(longest, cfg.Timeout)
	}
	return lambda.InitTimeout + time.Duration(longest)*time.Second + boundMargin, true
}
