import { localizeStepText, stepCatalog, stepDataJsonSchema, type FlowResponse, type Language, type OnboardingType, type SessionStatus } from '@glavito/contracts';

/** The built-in flows' version; tenant-defined flows will count up from here. */
export const BUILT_IN_FLOW_VERSION = 1;

/**
 * Which flow a caller is in: the type of their unfinished session if they have one, else the flow their role
 * starts by default (the rule of POST /onboarding/start and GET /onboarding/type).
 */
export function callerFlowType(caller: { isAdmin: boolean }, current: { type: OnboardingType; status: SessionStatus } | null): OnboardingType {
  if (current && current.status !== 'completed') return current.type;
  return defaultFlowType(caller);
}

export function defaultFlowType(caller: { isAdmin: boolean }): OnboardingType {
  return caller.isAdmin ? 'tenant_setup' : 'agent_welcome';
}

const flows = new Map<string, FlowResponse>();

/** A flow's ordered steps with the JSON Schema of each step's data, in a language; built once per type and language. */
export function flowOf(type: OnboardingType, lang: Language = 'en'): FlowResponse {
  let flow = flows.get(`${type}/${lang}`);
  if (!flow) {
    flow = {
      type,
      version: BUILT_IN_FLOW_VERSION,
      steps: stepCatalog(type).map((step) => ({ ...localizeStepText(type, step, lang), dataSchema: stepDataJsonSchema(type, step.id)!, skippable: !step.isRequired })),
    };
    flows.set(`${type}/${lang}`, flow);
  }
  return flow;
}
