import { stepCatalog, stepDataJsonSchema, type FlowResponse, type OnboardingType, type SessionStatus } from '@glavito/contracts';

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

const flows = new Map<OnboardingType, FlowResponse>();

/** A flow's ordered steps with the JSON Schema of each step's data; built once per type. */
export function flowOf(type: OnboardingType): FlowResponse {
  let flow = flows.get(type);
  if (!flow) {
    flow = {
      type,
      version: BUILT_IN_FLOW_VERSION,
      steps: stepCatalog(type).map((step) => ({ ...step, dataSchema: stepDataJsonSchema(type, step.id)!, skippable: !step.isRequired })),
    };
    flows.set(type, flow);
  }
  return flow;
}
