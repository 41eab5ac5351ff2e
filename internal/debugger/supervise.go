package debugger

import (
	"net"
	"net/rpc/jsonrpc"
	"strconv"
	"time"
)

// Supervise runs while an environment started with s.Command runs (done is
// closed when its process has ended). For Delve it connects to the headless
// server as one more client, continues the program (what --continue would
// do), and calls kill once the program has exited: a headless Delve outlives
// its program, and the environment must end with it so that the invocation
// reports the exit. For the other debuggers the program is the environment's
// process, so there is nothing to do.
func (s *Session) Supervise(done <-chan struct{}, kill func()) {
	if s.Debugger != Delve {
		return
	}
	conn := dialUntil(net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), done)
	if conn == nil {
		return
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-done:
			conn.Close() // unblocks a pending call
		case <-stop:
		}
	}()
	c := jsonrpc.NewClient(conn)
	defer c.Close()
	var out struct{ State State }
	err := c.Call("RPCServer.Command", map[string]any{"name": "continue"}, &out)
	for {
		if err != nil || out.State.Exited {
			// Exited (State answers "Process N has exited"), or Delve went away.
			kill()
			return
		}
		// Stopped at a developer's breakpoint: look again shortly. While the
		// program runs, State (blocking) returns only when it stops again.
		select {
		case <-done:
			return
		case <-time.After(250 * time.Millisecond):
		}
		out.State = State{}
		err = c.Call("RPCServer.State", map[string]any{"NonBlocking": false}, &out)
	}
}

// State is the part of Delve's api.DebuggerState that nimbus reads.
type State struct {
	Pid     int  `json:"Pid"`
	Running bool `json:"Running"`
	Exited  bool `json:"exited"`
}

// dialUntil connects to addr, retrying until it answers or done is closed.
func dialUntil(addr string, done <-chan struct{}) net.Conn {
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			return c
		}
		select {
		case <-done:
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}
