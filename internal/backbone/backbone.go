// Package backbone runs the embedded NATS server with JetStream that holds all of
// nimbus's durable state, and hands out the JetStream handle to the components.
//
// It is the only package that imports nats-server. Everything durable lives in the
// store directory under the server's data dir; the NATS server listens on no TCP
// port (clients connect in-process), so two nimbus servers never share state by
// accident. Bucket and stream names are part of the on-disk format and listed in
// ARCHITECTURE.md.
package backbone

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures the embedded server.
type Config struct {
	// DataDir is the root of all durable state; JetStream stores under DataDir/jetstream.
	DataDir string
}

// Backbone is a running embedded NATS server and a connection to it.
type Backbone struct {
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

// Start starts the embedded server and connects to it. The caller must Close it.
func Start(cfg Config) (*Backbone, error) {
	opts := &server.Options{
		ServerName:         "nimbus",
		DontListen:         true,
		JetStream:          true,
		StoreDir:           filepath.Join(cfg.DataDir, "jetstream"),
		NoLog:              true,
		NoSigs:             true,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("backbone: new server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("backbone: server not ready after 30s")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.MaxReconnects(-1))
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("backbone: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		srv.Shutdown()
		return nil, fmt.Errorf("backbone: jetstream: %w", err)
	}
	return &Backbone{srv: srv, nc: nc, js: js}, nil
}

// JetStream returns the JetStream handle shared by all components.
func (b *Backbone) JetStream() jetstream.JetStream { return b.js }

// Conn returns the in-process NATS connection.
func (b *Backbone) Conn() *nats.Conn { return b.nc }

// KeyValue creates or opens a KV bucket on file storage.
func (b *Backbone) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:  bucket,
		History: 1,
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("backbone: kv %s: %w", bucket, err)
	}
	return kv, nil
}

// ObjectStore creates or opens an object store bucket on file storage.
func (b *Backbone) ObjectStore(ctx context.Context, bucket string) (jetstream.ObjectStore, error) {
	os, err := b.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:  bucket,
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("backbone: object store %s: %w", bucket, err)
	}
	return os, nil
}

// Close drains the connection and shuts the server down, flushing its stores.
func (b *Backbone) Close() {
	_ = b.nc.Drain()
	for i := 0; i < 100 && !b.nc.IsClosed(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}
