package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrUnknownJobKind marks a job no sender knows how to handle.
var ErrUnknownJobKind = errors.New("unknown job kind")

// Job is one row of email_jobs.
type Job struct {
	ID        int64
	Kind      string
	Recipient string
	Payload   map[string]any
	Attempts  int
}

// Queue hands out queued jobs. Several workers may run at once: rows are claimed with
// FOR UPDATE SKIP LOCKED so no job is delivered twice.
type Queue struct {
	db          *sql.DB
	maxAttempts int
}

func NewQueue(db *sql.DB) *Queue {
	return &Queue{db: db, maxAttempts: 5}
}

// ProcessBatch claims up to limit queued jobs, runs handle on each and records the outcome.
// A failed job is retried on a later batch until maxAttempts, then marked failed.
func (q *Queue) ProcessBatch(ctx context.Context, limit int, handle func(Job) error) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	rows, err := tx.QueryContext(ctx, `
		SELECT id, kind, recipient, payload, attempts FROM email_jobs
		WHERE status = 'queued' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return err
	}
	var jobs []Job
	for rows.Next() {
		var job Job
		var raw []byte
		if err := rows.Scan(&job.ID, &job.Kind, &job.Recipient, &raw, &job.Attempts); err != nil {
			rows.Close()
			return err
		}
		if err := json.Unmarshal(raw, &job.Payload); err != nil {
			job.Payload = map[string]any{}
		}
		jobs = append(jobs, job)
	}
	rows.Close()

	for _, job := range jobs {
		status := "sent"
		if err := handle(job); err != nil {
			status = "queued"
			if job.Attempts+1 >= q.maxAttempts || errors.Is(err, ErrUnknownJobKind) {
				status = "failed"
			}
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE email_jobs SET status = $1, attempts = attempts + 1 WHERE id = $2`, status, job.ID); err != nil {
			return fmt.Errorf("job %d: %w", job.ID, err)
		}
	}
	return tx.Commit()
}
