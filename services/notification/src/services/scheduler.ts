import type { FastifyBaseLogger } from 'fastify';
import type { EmailJob, EmailOutcome, NotificationRepository } from '../repositories/notification-repository.js';
import { sendViaTenantSmtp, type Mailer } from './mailer.js';
import type { TenantSmtpResolver } from './tenant-smtp.js';

export interface SchedulerOptions {
  repo: NotificationRepository;
  mailer: Mailer | null;
  /** Whose SMTP sends each email (the tenant's tested one, or `mailer`); absent: always `mailer`. */
  tenantSmtp?: { resolver: TenantSmtpResolver; timeoutMs: number; ca?: string | string[] };
  /** The scheduler's only notion of time (tests pass their own). */
  clock: () => Date;
  log: FastifyBaseLogger;
  replicaId: string;
  batch: number;
  leaseMs: number;
  maxAttempts: number;
  /** 0 = no timer: runDue is called from outside (tests). */
  intervalMs: number;
}

export interface ReminderScheduler {
  /** Claims and delivers every reminder due at the clock's now; resolves when their outcomes are recorded. */
  runDue(): Promise<{ claimed: number; emailed: number }>;
  stop(): Promise<void>;
}

const retryAfterMs = (attempt: number) => Math.min(60_000 * 2 ** (attempt - 1), 3_600_000);

export function createReminderScheduler(o: SchedulerOptions): ReminderScheduler {
  let running: Promise<{ claimed: number; emailed: number }> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  /**
   * The tenant's own SMTP when it may send, else the system's. A failure of the tenant's SMTP (or of getting its
   * settings) is recorded and retried on the usual schedule, never handed to the system's SMTP: the sender (and
   * From domain) would silently change, and a send that timed out may have been delivered, so another server would
   * deliver a second copy of the same Message-ID.
   */
  async function send(job: EmailJob): Promise<EmailOutcome> {
    const choice = o.tenantSmtp ? await o.tenantSmtp.resolver.choose(job.tenantId) : null;
    if (choice?.kind === 'tenant') return sendViaTenantSmtp(job, choice.channel, choice.settings, o.tenantSmtp!);
    if (choice?.kind === 'unavailable') return { kind: 'retry', code: null, detail: choice.detail, sender: 'tenant' };
    if (!o.mailer) return { kind: 'retry', code: null, detail: `no system smtp (NOTIFY_SMTP_URL) and ${choice?.reason ?? 'no tenant smtp'}`, sender: 'system' };
    return o.mailer.send(job);
  }

  async function deliver(job: EmailJob): Promise<void> {
    const outcome = await send(job);
    const kept = await o.repo.recordEmail(job, outcome, o.clock(), { maxAttempts: o.maxAttempts, retryAfterMs });
    const level = outcome.kind === 'sent' ? 'info' : 'warn';
    o.log[level](
      {
        reminderId: job.reminderId,
        attempt: job.attempt,
        outcome: outcome.kind,
        sender: outcome.sender,
        ...(outcome.kind !== 'sent' ? { detail: outcome.detail } : {}),
        kept,
      },
      'reminder email',
    );
  }

  async function runOnce(): Promise<{ claimed: number; emailed: number }> {
    let claimed = 0;
    let emailed = 0;
    for (;;) {
      const batch = await o.repo.claimDue(o.clock(), {
        batch: o.batch,
        leaseMs: o.leaseMs,
        replicaId: o.replicaId,
        maxAttempts: o.maxAttempts,
        emailEnabled: o.mailer !== null,
        tenantSmtp: o.tenantSmtp !== undefined,
      });
      claimed += batch.claimed;
      for (const job of batch.emails) {
        await deliver(job);
        emailed++;
      }
      if (batch.claimed < o.batch || stopped) break;
    }
    for (;;) {
      const notices = await o.repo.claimNotices(o.clock(), {
        batch: o.batch,
        leaseMs: o.leaseMs,
        maxAttempts: o.maxAttempts,
        emailEnabled: o.mailer !== null || o.tenantSmtp !== undefined,
      });
      claimed += notices.claimed;
      for (const job of notices.emails) {
        await deliver(job);
        emailed++;
      }
      if (notices.claimed < o.batch || stopped) return { claimed, emailed };
    }
  }

  function runDue() {
    // One run at a time per replica; a call during a run waits for it and starts another (new work may be due).
    const next = (running ?? Promise.resolve()).catch(() => undefined).then(runOnce);
    running = next;
    return next;
  }

  function arm() {
    if (stopped || o.intervalMs <= 0) return;
    timer = setTimeout(() => {
      runDue()
        .catch((err: unknown) => o.log.error({ err }, 'reminder scheduler run failed; next run retries'))
        .finally(arm);
    }, o.intervalMs);
    timer.unref();
  }
  arm();

  return {
    runDue,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
