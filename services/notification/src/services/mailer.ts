import type { TenantSmtpSettings } from '@glavito/contracts';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { EmailChannel, EmailJob, EmailOutcome } from '../repositories/notification-repository.js';

export interface Mailer {
  send(job: EmailJob): Promise<EmailOutcome>;
  close(): void;
}

function message(job: EmailJob, from: string) {
  return {
    from,
    to: job.to,
    subject: job.content.subject,
    text: job.content.text,
    html: job.content.html,
    messageId: job.messageId,
    headers: {
      [job.kind === 'reminder' ? 'X-Glavito-Reminder-Id' : 'X-Glavito-Notice-Id']: job.reminderId,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
    list: { unsubscribe: { url: job.unsubscribeUrl, comment: 'Unsubscribe' } },
  };
}

type SmtpError = { responseCode?: number; response?: string; code?: string; message?: string };

function failure(err: unknown, o: { authIsRetry: boolean; scrub?: string }): EmailOutcome {
  const e = err as SmtpError;
  const code = typeof e.responseCode === 'number' ? e.responseCode : null;
  let detail = (e.response ?? `${e.code ?? 'error'}: ${e.message ?? ''}`).slice(0, 300);
  // Defence in depth: no server or library message is expected to repeat the password, but a record never holds it.
  if (o.scrub) detail = detail.split(o.scrub).join('********');
  // A refused login or TLS is the sender's configuration, not the message: retried (the tenant may fix it), never a bounce.
  if (o.authIsRetry && (e.code === 'EAUTH' || e.code === 'ETLS' || e.code === 'ENOAUTH')) return { kind: 'retry', code, detail };
  // 5xx is the server refusing this message for good (unknown mailbox, policy): a bounce, not worth retrying.
  return { kind: code !== null && code >= 500 ? 'bounced' : 'retry', code, detail };
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
        const info = await transport.sendMail(message(job, opts.from));
        return { kind: 'sent', response: String(info.response ?? '').slice(0, 300), sender: 'system' };
      } catch (err) {
        return { ...failure(err, { authIsRetry: false }), sender: 'system' };
      }
    },
    close() {
      transport.close();
    },
  };
}

/**
 * One email through the tenant's own SMTP, with settings that exist only for this call (opened from the session
 * service's sealed reply; never cached, stored or logged). The connection is made as the connection test made it:
 * implicit TLS or mandatory STARTTLS, certificates checked (a test passed only with a trusted certificate), so the
 * password never travels in clear. From is the channel's support address (else the login when it is an address).
 */
export async function sendViaTenantSmtp(
  job: EmailJob,
  channel: EmailChannel,
  settings: TenantSmtpSettings,
  o: { timeoutMs: number; ca?: string | string[] },
): Promise<EmailOutcome> {
  const from = settings.address ?? (settings.username.includes('@') ? settings.username : null);
  if (!from) return { kind: 'retry', code: null, detail: 'tenant smtp: the email channel has no support address to send from', sender: 'tenant' };
  const options: SMTPTransport.Options = {
    host: settings.host,
    port: settings.port,
    secure: channel.encryption === 'tls',
    requireTLS: channel.encryption === 'starttls',
    auth: { user: settings.username, pass: settings.password },
    connectionTimeout: o.timeoutMs,
    greetingTimeout: o.timeoutMs,
    socketTimeout: o.timeoutMs,
    logger: false,
    debug: false,
    ...(o.ca ? { tls: { ca: o.ca } } : {}),
  };
  const transport = nodemailer.createTransport(options);
  try {
    const info = await transport.sendMail(message(job, from));
    return { kind: 'sent', response: String(info.response ?? '').slice(0, 300), sender: 'tenant' };
  } catch (err) {
    const out = failure(err, { authIsRetry: true, scrub: settings.password });
    return { ...out, ...(out.kind !== 'sent' ? { detail: `tenant smtp: ${out.detail}` } : {}), sender: 'tenant' };
  } finally {
    transport.close();
  }
}
