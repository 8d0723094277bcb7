import type { AGENT_STEP_DATA_SCHEMAS, OnboardingType, TENANT_STEP_DATA_SCHEMAS } from '@glavito/contracts';
import type { z } from 'zod';

// Types only: the step data schemas stay on the server (and in `@glavito/client/validate`), out of the browser bundle.
type TenantSchemas = typeof TENANT_STEP_DATA_SCHEMAS;
type AgentSchemas = typeof AGENT_STEP_DATA_SCHEMAS;

export type TenantStepId = keyof TenantSchemas & string;
export type AgentStepId = keyof AgentSchemas & string;
/** A step of either flow (`welcome` is in both). */
export type StepId = TenantStepId | AgentStepId;

/**
 * The data a step takes (the input of its contract schema). A step id of both flows takes either flow's data;
 * a union of ids takes the data of any of them.
 */
export type StepData<S extends StepId> =
  (S extends TenantStepId ? z.input<TenantSchemas[S]> : never) | (S extends AgentStepId ? z.input<AgentSchemas[S]> : never);

export type { OnboardingType };
