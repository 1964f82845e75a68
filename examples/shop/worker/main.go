// Command worker delivers the emails the API queues in the email_jobs table.
//
// It runs next to the API, polls the database every few seconds and hands each job to the
// matching sender. Stopping it with SIGTERM finishes the job in progress first.
package main

import (
	"context"
	"database/sql"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "github.com/lib/pq"
)

func main() {
	db, err := sql.Open("postgres", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatalf("open database: %v", err)
	}
	defer db.Close()

	mailer := NewSMTPMailer(os.Getenv("SMTP_ADDR"), os.Getenv("MAIL_FROM"))
	queue := NewQueue(db)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log.Printf("worker started")
	ticker := time.NewTicker(3 * time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Printf("worker stopping")
			return
		case <-ticker.C:
			if err := queue.ProcessBatch(ctx, 20, func(job Job) error { return dispatch(ctx, mailer, job) }); err != nil {
				log.Printf("processing jobs: %v", err)
			}
		}
	}
}

// dispatch picks the sender for a job kind; unknown kinds fail so they stay visible in the table.
func dispatch(ctx context.Context, mailer Mailer, job Job) error {
	switch job.Kind {
	case "order_confirmation":
		return SendOrderConfirmation(ctx, mailer, job.Recipient, job.Payload)
	case "order_shipped":
		return SendShippingNotice(ctx, mailer, job.Recipient, job.Payload)
	default:
		return ErrUnknownJobKind
	}
}
