import { stepCatalog, type NotificationLanguage, type OnboardingType, type ReminderPolicy, type ReminderText } from '@glavito/contracts';

/** What a tenant gets before its admin sets a policy: one business day (8 business hours), three reminders at most. */
export const DEFAULT_POLICY: ReminderPolicy = {
  enabled: true,
  inactivityMinutes: 480,
  maxReminders: 3,
  channels: ['in_app', 'email'],
  adminNotifications: { milestones: true, completion: true, email: false },
  texts: {},
};

/** Built-in texts per flow and language; a language is one more entry here. */
export const DEFAULT_TEXTS: Record<OnboardingType, Record<NotificationLanguage, ReminderText>> = {
  tenant_setup: {
    en: {
      subject: '{{stepsLeftCount}} left: {{stepsLeft}}',
      body: 'Your workspace setup is waiting for you. {{stepsLeftCount}} left: {{stepsLeft}}.\n\nPick up where you left off with {{nextStep}}: {{link}}',
    },
  },
  agent_welcome: {
    en: {
      subject: '{{stepsLeftCount}} left: {{stepsLeft}}',
      body: 'Your welcome to the team is nearly done. {{stepsLeftCount}} left: {{stepsLeft}}.\n\nContinue with {{nextStep}}: {{link}}',
    },
  },
};

const COPY: Record<NotificationLanguage, { steps: (n: number) => string; milestone: (t: number) => string; completed: string; unsubscribe: string }> = {
  en: {
    steps: (n) => (n === 1 ? '1 step' : `${n} steps`),
    milestone: (t) => `An onboarding reached ${t} %`,
    completed: 'An onboarding was completed',
    unsubscribe: 'Stop these emails',
  },
};

export interface SessionState {
  sessionId: string;
  type: OnboardingType;
  completedSteps: string[];
  skippedSteps: string[];
  currentStep: string | null;
}

/** The flow's steps neither completed nor skipped, in flow order (the step catalog is the session context's, shared in contracts). */
export function stepsLeft(s: SessionState): Array<{ id: string; title: string }> {
  const done = new Set([...s.completedSteps, ...s.skippedSteps]);
  return stepCatalog(s.type)
    .filter((step) => !done.has(step.id))
    .map((step) => ({ id: step.id, title: step.title }));
}

export interface RenderedReminder {
  subject: string;
  text: string;
  html: string;
  link: string;
  stepsLeft: string[];
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (m, name: string) => values[name] ?? m);
}

/** The reminder's text (policy text for the flow and language, else the built-in one) naming what is left and linking to the next step. */
export function renderReminder(
  policy: ReminderPolicy,
  s: SessionState,
  lang: NotificationLanguage,
  appUrl: string,
  unsubscribeUrl: string | null,
): RenderedReminder {
  const left = stepsLeft(s);
  const next = left.find((l) => l.id === s.currentStep) ?? left[0];
  const link = `${appUrl}/onboarding/${encodeURIComponent(s.sessionId)}${next ? `/${encodeURIComponent(next.id)}` : ''}`;
  const text = policy.texts[s.type]?.[lang] ?? DEFAULT_TEXTS[s.type][lang];
  const values = { stepsLeftCount: COPY[lang].steps(left.length), stepsLeft: left.map((l) => l.title).join(', '), nextStep: next?.title ?? '', link };
  const subject = fill(text.subject, values).replace(/[\r\n]+/g, ' ');
  const body = fill(text.body, values);
  const footer = unsubscribeUrl ? `\n\n${COPY[lang].unsubscribe}: ${unsubscribeUrl}` : '';
  const htmlValues = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, escapeHtml(v)]));
  htmlValues.link = `<a href="${escapeHtml(link)}">${escapeHtml(next?.title ?? link)}</a>`;
  const htmlBody = escapeHtml(text.body)
    .replace(/\{\{(\w+)\}\}/g, (m, name: string) => htmlValues[name] ?? m)
    .split(/\n{2,}/)
    .map((p) => `<p>${p.replace(/\n/g, '<br>')}</p>`)
    .join('\n');
  const htmlFooter = unsubscribeUrl ? `\n<p style="font-size:12px;color:#666"><a href="${escapeHtml(unsubscribeUrl)}">${COPY[lang].unsubscribe}</a></p>` : '';
  return {
    subject,
    text: body + footer,
    html: `<!doctype html><html><body>\n${htmlBody}${htmlFooter}\n</body></html>`,
    link,
    stepsLeft: left.map((l) => l.title),
  };
}

export function milestoneText(lang: NotificationLanguage, threshold: number, stepsDone: number): { title: string; body: string } {
  return { title: COPY[lang].milestone(threshold), body: `${stepsDone} steps done so far.` };
}

export function completionText(lang: NotificationLanguage, totalMinutes: number): { title: string; body: string } {
  return { title: COPY[lang].completed, body: `Completed in ${totalMinutes} minutes.` };
}

/** The email of an admin notice: its title and body, a link to the app, the unsubscribe footer. */
export function renderNotice(n: { title: string; body: string }, lang: NotificationLanguage, appUrl: string, unsubscribeUrl: string): RenderedReminder {
  const footer = `${COPY[lang].unsubscribe}: ${unsubscribeUrl}`;
  return {
    subject: n.title.replace(/[\r\n]+/g, ' '),
    text: `${n.body}\n\n${appUrl}\n\n${footer}`,
    html: `<!doctype html><html><body>\n<p>${escapeHtml(n.body)}</p>\n<p><a href="${escapeHtml(appUrl)}">${escapeHtml(appUrl)}</a></p>\n<p style="font-size:12px;color:#666"><a href="${escapeHtml(unsubscribeUrl)}">${COPY[lang].unsubscribe}</a></p>\n</body></html>`,
    link: appUrl,
    stepsLeft: [],
  };
}
