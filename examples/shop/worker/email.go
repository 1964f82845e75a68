package main

import (
	"context"
	"fmt"
	"net/smtp"
	"strings"
)

// Mailer sends one plain-text email.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// SMTPMailer delivers through a relay that needs no authentication (the local MTA).
type SMTPMailer struct {
	addr string
	from string
}

func NewSMTPMailer(addr, from string) *SMTPMailer {
	return &SMTPMailer{addr: addr, from: from}
}

func (m *SMTPMailer) Send(ctx context.Context, to, subject, body string) error {
	msg := strings.Join([]string{
		"From: " + m.from,
		"To: " + to,
		"Subject: " + subject,
		"Content-Type: text/plain; charset=utf-8",
		"",
		body,
	}, "\r\n")
	return smtp.SendMail(m.addr, nil, m.from, []string{to}, []byte(msg))
}

// SendOrderConfirmation emails the customer that their order was paid and is being prepared.
// The API queues this job right after a successful payment.
func SendOrderConfirmation(ctx context.Context, mailer Mailer, to string, payload map[string]any) error {
	orderID, ok := payload["order_id"]
	if !ok {
		return fmt.Errorf("order confirmation without order_id")
	}
	subject := fmt.Sprintf("Your order #%v is confirmed", orderID)
	body := fmt.Sprintf("Thank you for your order #%v.\n\n"+
		"We received your payment and will let you know when the parcel leaves our warehouse.\n", orderID)
	return mailer.Send(ctx, to, subject, body)
}

// SendShippingNotice tells the customer the parcel is on its way, with the carrier's tracking code.
func SendShippingNotice(ctx context.Context, mailer Mailer, to string, payload map[string]any) error {
	subject := fmt.Sprintf("Order #%v has shipped", payload["order_id"])
	body := fmt.Sprintf("Your parcel is on its way. Tracking code: %v\n", payload["tracking_code"])
	return mailer.Send(ctx, to, subject, body)
}
