package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/tidings/tidings/mail/queue"
)

func init() {
	register("queue list", command{summary: "list mail waiting for delivery to other domains", run: queueList})
	register("queue retry", command{args: "ID|all", summary: "retry queued recipients now (a running server picks them up within seconds)", run: queueRetry})
	register("queue drop", command{args: "ID", summary: "remove a queued recipient without telling the sender", run: queueDrop})
}

func queueList(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "queue list", "").withJSON()
	return f.run(ctx, e, args, 0, 0, func(s *cliStore, _ []string) error {
		es, err := queue.List(ctx, s.db)
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(e.stdout, nonNil(es))
		}
		rows := make([][]string, len(es))
		for i, q := range es {
			rows[i] = []string{strconv.FormatInt(q.ID, 10), orNone(q.Sender), q.Recipient, strconv.FormatInt(q.Size, 10),
				q.Queued.Format(time.DateTime), strconv.Itoa(q.Attempts), q.NextAttempt.Format(time.DateTime), q.LastError}
		}
		return table(e.stdout, []string{"ID", "SENDER", "RECIPIENT", "SIZE", "QUEUED", "ATTEMPTS", "NEXT", "LAST ERROR"}, rows)
	})
}

func queueRetry(ctx context.Context, e *env, args []string) error {
	return newFlags(e, "queue retry", "ID|all").run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		var id int64
		if pos[0] != "all" {
			var err error
			if id, err = strconv.ParseInt(pos[0], 10, 64); err != nil || id <= 0 {
				return usagef("queue retry: want an ID from 'tidings queue list' or \"all\"")
			}
		}
		n, err := queue.Retry(ctx, s.db, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d recipients due now\n", n)
		return nil
	})
}

func queueDrop(ctx context.Context, e *env, args []string) error {
	return newFlags(e, "queue drop", "ID").run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id <= 0 {
			return usagef("queue drop: want an ID from 'tidings queue list'")
		}
		if _, err := queue.Drop(ctx, s.db, id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "dropped %d\n", id)
		return nil
	})
}
