package main

import (
	"context"
	"fmt"
)

func init() {
	register("config check", command{summary: "validate the configuration and report every problem", run: configCheck})
	register("config example", command{summary: "print a commented tidings.toml with every key and its default", run: configExample})
}

func configCheck(_ context.Context, e *env, args []string) error {
	f := newFlags(e, "config check", "")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	cfg, path, err := loadConfig(f.config, e.environ)
	if err != nil {
		return err
	}
	if path == "" {
		path = "no file, defaults and environment"
	}
	fmt.Fprintf(e.stdout, "configuration OK (%s)\nhostname %s, data in %s, database %s\n", path, cfg.Hostname, cfg.DataDir, cfg.Database.Driver)
	return nil
}

func configExample(_ context.Context, e *env, args []string) error {
	f := newFlags(e, "config example", "")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	return writeExample(e.stdout, DefaultConfig())
}
