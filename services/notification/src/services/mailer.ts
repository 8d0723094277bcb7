import nodemailer from 'nodemailer';
import type { EmailJob, EmailOutcome } from '../repositories/notification-repository.js';

export interface Mailer {
  send(job: EmailJob): Promise<EmailOutcome>;
  close(): void;
}

/**
 * Sends reminder emails through one SMTP server (the system's NOTIFY_SMTP_URL). The Message-ID is the reminder's
 * idempotency key: a resend after a crash carries the same one, so receivers that de-duplicate on it keep one copy.
 * The credentials live only in the transport; outcomes carry the server's answer, never the URL.
 */
export function createMailer(opts: { url: string; from: string; timeoutMs: number }): Mailer {
  const transport = nodemailer.createTransport({
    url: opts.url,
    connectionTimeout: opts.timeoutMs,
    greetingTimeout: opts.timeoutMs,
    socketTimeout: opts.timeoutMs,
  });
  return {
    async send(job) {
      try {
        const info = await transport.sendMail({
          from: opts.from,
          to: job.to,
          subject: job.content.subject,
          text: job.content.text,
          html: job.content.html,
          messageId: job.messageId,
          headers: { [job.kind === 'reminder' ? 'X-Glavito-Reminder-Id' : 'X-Glavito-Notice-Id']: job.reminderId, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
          list: { unsubscribe: { url: job.unsubscribeUrl, comment: 'Unsubscribe' } },
        });
        return { kind: 'sent', response: String(info.response ?? '').slice(0, 300) };
      } catch (err) {
        const e = err as { responseCode?: number; response?: string; code?: string; message?: string };
        const code = typeof e.responseCode === 'number' ? e.responseCode : null;
        const detail = (e.response ?? `${e.code ?? 'error'}: ${e.message ?? ''}`).slice(0, 300);
        // 5xx is the server refusing this message for good (unknown mailbox, policy): a bounce, not worth retrying.
        return { kind: code !== null && code >= 500 ? 'bounced' : 'retry', code, detail };
      }
    },
    close() {
      transport.close();
    },
  };
}
