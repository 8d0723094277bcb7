import type { AuditDecision } from './audit.js';

const READ = "a read of the caller's own or tenant-visible onboarding data that reveals no credential and changes nothing";
const PURE = 'a pure computation over the request (validation or business-time arithmetic): no state, nothing revealed';

/**
 * The audit decision of every route of the catalog (docs/ARCHITECTURE.md §9 shows it as a table). A route
 * missing here fails `audit-decisions.test.ts`. Refusals (401, 403, 429, 404 on session routes) are audited at
 * the edge for every route as `access.denied`, whatever the route's decision.
 */
export const AUDIT_DECISIONS: Record<string, AuditDecision> = {
  start: { audited: true, actions: ['session.start'] },
  getSession: { audited: false, why: `${READ} (credentials are masked)` },
  status: { audited: false, why: READ },
  type: { audited: false, why: READ },
  saveStep: { audited: true, actions: ['step.credentials_change', 'session.resume'] },
  skipStep: { audited: false, why: 'skipping an optional step changes no credential, setting or tenant state (step.skipped is a domain event)' },
  flow: { audited: false, why: READ },
  flowByType: { audited: false, why: READ },
  flowVersions: { audited: false, why: READ },
  flowDraftGet: { audited: false, why: READ },
  flowDraftPut: { audited: true, actions: ['flow.draft_save'] },
  flowPublish: { audited: true, actions: ['flow.publish'] },
  languages: { audited: false, why: READ },
  stepConfiguration: { audited: false, why: READ },
  validateStepPost: { audited: false, why: PURE },
  validateStepGet: { audited: false, why: PURE },
  pause: { audited: true, actions: ['session.pause'] },
  resume: { audited: true, actions: ['session.resume'] },
  complete: { audited: true, actions: ['session.complete', 'session.force_complete', 'tenant_setup.complete'] },
  tenantSetupStatus: { audited: false, why: READ },
  tenantSetupComplete: { audited: true, actions: ['tenant_setup.complete'] },
  agentWelcomeStart: { audited: true, actions: ['session.start'] },
  agentWelcomeStatus: { audited: false, why: READ },
  businessHoursGet: { audited: false, why: READ },
  businessHoursPut: { audited: true, actions: ['business_hours.update'] },
  businessHoursDelete: { audited: true, actions: ['business_hours.delete'] },
  businessHoursCheck: { audited: false, why: PURE },
  businessHoursWorkingTime: { audited: false, why: PURE },
  businessHoursAddTime: { audited: false, why: PURE },
  businessHoursNextDay: { audited: false, why: PURE },

  progress: { audited: false, why: READ },
  statistics: { audited: true, actions: ['statistics.read'] },
  statisticsTimeseries: { audited: true, actions: ['statistics.read'] },
  statisticsCohorts: { audited: true, actions: ['statistics.read'] },
  statisticsExport: { audited: true, actions: ['statistics.export'] },

  testConnection: { audited: true, actions: ['connection.test'] },
  testConnections: { audited: true, actions: ['connection.test'] },
  connectionHistory: { audited: false, why: `${READ} (results never hold a credential)` },
  validateConnectionConfig: { audited: false, why: `${PURE}: no connection is made` },

  sessionClients: { audited: false, why: 'a count of sockets, no data' },
  userClients: { audited: false, why: 'a count of sockets, no data' },

  paymentSetup: { audited: true, actions: ['payment.setup'] },
  paymentStatus: {
    audited: false,
    why: "a read of the tenant's own payment account status (no key, no secret); when the live read finds the account changed at Stripe, that change is recorded as payment.account_update (actor system)",
  },
  paymentAccountLink: { audited: true, actions: ['payment.account_link'] },
  paymentAccount: { audited: false, why: "a read of the tenant's own payment account status (no key, no secret)" },
  paymentBillingConfigGet: { audited: false, why: "a read of the tenant's own billing configuration (no secret)" },
  paymentBillingConfigPut: { audited: true, actions: ['payment.billing_change'] },
  // Stripe calling us, signature-checked: an account change it brings is recorded with actor `system` (a replay changes nothing, records nothing).
  paymentStripeWebhook: { audited: true, actions: ['payment.account_update'] },

  notifications: { audited: false, why: `${READ} (the caller's own notifications)` },
  notificationsMarkRead: { audited: false, why: "marks the caller's own notifications read: no security meaning" },
  notificationSettingsGet: { audited: false, why: READ },
  notificationSettingsPut: { audited: false, why: "the caller's own delivery preferences: no tenant-wide effect, no credential" },
  notificationsUnsubscribe: { audited: false, why: 'one-click unsubscribe proven by a signed token; the notification service records it as a setting change' },
  reminderPolicyGet: { audited: false, why: READ },
  reminderPolicyPut: { audited: true, actions: ['reminder_policy.change'] },

  auditList: { audited: true, actions: ['audit.read'] },
  auditExport: { audited: true, actions: ['audit.export'] },
  auditVerify: { audited: true, actions: ['audit.verify'] },
};
