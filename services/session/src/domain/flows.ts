import {
  flowStepJsonSchema,
  flowStepTexts,
  localizeStepText,
  stepDataJsonSchema,
  type FlowResponse,
  type Language,
  type OnboardingType,
  type ResolvedFlow,
  type SessionStatus,
} from '@glavito/contracts';

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

const answers = new WeakMap<ResolvedFlow, Map<Language, FlowResponse>>();

/** A flow's ordered steps with the JSON Schema of each step's data, in a language; built once per flow version and language. */
export function flowResponse(flow: ResolvedFlow, lang: Language): FlowResponse {
  let perLang = answers.get(flow);
  if (!perLang) answers.set(flow, (perLang = new Map()));
  let answer = perLang.get(lang);
  if (!answer) {
    answer = {
      type: flow.type,
      version: flow.version,
      steps: flow.steps.map(({ custom: _custom, ...step }) => {
        const texts = _custom ? flowStepTexts({ ...step, custom: _custom }, lang) : localizeStepText(flow.type, step, lang);
        return {
          ...step,
          title: texts.title,
          description: texts.description,
          dataSchema: flowStepJsonSchema(flow, { ...step, ...(_custom ? { custom: _custom } : {}) }, lang, stepDataJsonSchema),
          skippable: !step.isRequired,
        };
      }),
    };
    perLang.set(lang, answer);
  }
  return answer;
}

/** A step's title in `lang` in a flow (for progress actions). */
export function stepTitleIn(flow: ResolvedFlow, stepId: string, lang: Language): string | undefined {
  const step = flow.steps.find((s) => s.id === stepId);
  if (!step) return undefined;
  return step.custom ? flowStepTexts(step, lang).title : localizeStepText(flow.type, step, lang).title;
}
