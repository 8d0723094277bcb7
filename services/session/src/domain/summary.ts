type StepData = Record<string, Record<string, unknown> | undefined>;

const CHANNEL_FEATURES: Record<string, string> = {
  email: 'Email Integration',
  whatsapp: 'WhatsApp Integration',
  instagram: 'Instagram Integration',
  slack: 'Slack Integration',
  teams: 'Microsoft Teams Integration',
  webchat: 'Web Chat',
};
const AI_FEATURES: Record<string, string> = {
  ticketClassification: 'AI Ticket Classification',
  sentimentAnalysis: 'Sentiment Analysis',
  autoResponse: 'Auto Response',
  smartRouting: 'Smart Routing',
  summarization: 'Conversation Summaries',
};

/** Features a completed onboarding switched on, derived from what was saved (skips count for nothing). */
export function featuresEnabled(stepData: StepData): string[] {
  const out: string[] = [];
  const channels = stepData.channel_configuration ?? {};
  for (const [key, label] of Object.entries(CHANNEL_FEATURES)) {
    if ((channels[key] as { enabled?: boolean } | undefined)?.enabled === true) out.push(label);
  }
  const features = (stepData.ai_configuration?.features as string[] | undefined) ?? [];
  for (const f of features) if (AI_FEATURES[f]) out.push(AI_FEATURES[f]);
  if (typeof stepData.payment_setup?.stripeAccountId === 'string') out.push('Stripe Payment Processing');
  if (stepData.knowledge_base) out.push('Knowledge Base');
  if (stepData.workflow_configuration) out.push('Custom Workflows');
  if (stepData.customer_portal?.enabled === true) out.push('Customer Portal');
  if (stepData.analytics_setup) out.push('Analytics');
  return out;
}
