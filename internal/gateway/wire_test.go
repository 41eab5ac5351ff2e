package gateway

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestOverLoopback serves real HTTP: framing, HEAD, 204, early 413, and the
// port and client address the event reports.
func TestOverLoopback(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("echo", reply(`{"statusCode":200,"headers":{"content-type":"text/plain"},"body":"hello"}`))
	inv.add("empty", reply(`{"statusCode":204,"body":"ignored"}`))
	g, _ := newTestGateway(t, inv, httpAPI("app", to("ANY /echo", "echo"), to("DELETE /items/{id}", "empty")))
	srv := httptest.NewServer(g)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	resp, err := http.Get(srv.URL + "/echo?x=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello" || resp.ContentLength != 5 || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("GET /echo: %d %q len %d %v", resp.StatusCode, b, resp.ContentLength, resp.Header)
	}
	ev := inv.lastEvent(t, "echo")
	h := ev["headers"].(map[string]any)
	if h["x-forwarded-port"] != port || h["x-forwarded-for"] != "127.0.0.1" || h["host"] != "127.0.0.1:"+port {
		t.Errorf("forwarding headers: %v", h)
	}

	resp, err = http.Head(srv.URL + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HEAD /echo (ANY): %d", resp.StatusCode)
	}

	req, _ := http.NewRequest("DELETE", srv.URL+"/items/7", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 204 || len(b) != 0 {
		t.Errorf("DELETE: %d %q", resp.StatusCode, b)
	}

	// A declared length over the limit is refused before the body is read.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 20000000\r\n\r\n")
	buf := make([]byte, 512)
	n, _ := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 413") || !strings.Contains(string(buf[:n]), `{"message":"Request Entity Too Large"}`) {
		t.Errorf("oversized POST: %q", buf[:n])
	}
	if inv.calls("echo") != 2 {
		t.Errorf("calls = %d, want 2", inv.calls("echo"))
	}
}
