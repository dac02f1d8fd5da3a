package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
)

// TestServiceSwitches switches a listener off and on at run time, as the
// admin console's Servers form does: off refuses new connections, on
// listens again on the configured address.
func TestServiceSwitches(t *testing.T) {
	s := &server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	errClosed := errors.New("closed")
	serve := func(ln net.Listener) error {
		for {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			c.Write([]byte("220 hello\r\n"))
			c.Close()
		}
	}
	if err := s.serveOn("smtp", "127.0.0.1:0", serve, errClosed); err != nil {
		t.Fatal(err)
	}
	defer webServices{s}.SetService(context.Background(), "smtp", false)
	ws := webServices{s}
	greet := func() error {
		addr := ws.Services()[0].Addr
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		b := make([]byte, 9)
		_, err = io.ReadFull(c, b)
		return err
	}
	list := ws.Services()
	if len(list) != 1 || list[0].Name != "smtp" || !list[0].On {
		t.Fatalf("services: %+v", list)
	}
	if err := greet(); err != nil {
		t.Fatalf("on: %v", err)
	}
	if err := ws.SetService(context.Background(), "smtp", false); err != nil {
		t.Fatal(err)
	}
	if ws.Services()[0].On {
		t.Fatal("still on after switching off")
	}
	if err := greet(); err == nil {
		t.Fatal("off, yet a connection was served")
	}
	if err := ws.SetService(context.Background(), "smtp", true); err != nil {
		t.Fatal(err)
	}
	if err := greet(); err != nil {
		t.Fatalf("on again: %v", err)
	}
	if err := ws.SetService(context.Background(), "imap", true); err == nil {
		t.Fatal("switching an unconfigured service: no error")
	}
	if err := ws.SetService(context.Background(), "gopher", true); err == nil {
		t.Fatal("switching an unknown service: no error")
	}
}
