package dev

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// debugSession is the answer of PUT /nimbus/v1/functions/{name}/debug: the
// function now runs under a debugger listening on Port.
type debugSession struct {
	Function     string `json:"function"`
	Runtime      string `json:"runtime"`
	Debugger     string `json:"debugger"`
	Port         int    `json:"port"`
	Instructions string `json:"instructions"`
}

// errNoDebugger is returned when the server does not provide debugging.
var errNoDebugger = errors.New("debugging is not available on this server (it does not provide /nimbus/v1/functions/{name}/debug)")

// debugOn asks the server to run function name under a debugger (port 0:
// the runtime's default port).
func (c *client) debugOn(ctx context.Context, name string, port int) (*debugSession, error) {
	body := []byte(`{}`)
	if port > 0 {
		body = fmt.Appendf(nil, `{"port":%d}`, port)
	}
	resp, err := c.Do(ctx, http.MethodPut, "/nimbus/v1/functions/"+url.PathEscape(name)+"/debug", body, nil)
	if unknownOperation(err) {
		return nil, errNoDebugger
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s debugSession
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("debug %s: bad answer: %w", name, err)
	}
	return &s, nil
}

// debugOff turns the debugger off for function name.
func (c *client) debugOff(ctx context.Context, name string) error {
	resp, err := c.Do(ctx, http.MethodDelete, "/nimbus/v1/functions/"+url.PathEscape(name)+"/debug", nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
